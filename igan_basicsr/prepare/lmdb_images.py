"""Image LMDBs in BasicSR's layout: data.mdb and lock.mdb, plus meta_info.txt with one line per image.

The lines read `0001_s001.png (480,480,3) 1` (key with the encoding as extension, shape, PNG compression level,
0 for BMP), as basicsr.utils.lmdb_util.make_lmdb_from_imgs writes them; BasicSR's PairedImageDataset takes
each key from the text before the first dot. Writing goes to NAME.partial (see outputs.py).
"""
import os

import lmdb
from basicsr.utils import FileClient, imfrombytes

from ..atomic import partial
from .errors import PrepareError
from .images import ENCODINGS

META_INFO = 'meta_info.txt'
# Bytes buffered per write transaction: bounds memory while keeping commits few.
COMMIT_BYTES = 64 << 20
# LMDB stores each image value on its own run of pages of this size, the unit a size estimate counts in.
PAGE = 4096


def stored_size(value_bytes):
    """Bytes an LMDB value of `value_bytes` takes on disk, its overflow-page header and rounding included."""
    return -(-(value_bytes + 16) // PAGE) * PAGE


class LmdbImageWriter:
    """Puts encoded images under `path`.partial in buffered transactions; `close` writes meta_info.txt."""

    def __init__(self, path, encoding, map_size):
        self.path = path
        self.encoding = encoding
        os.makedirs(partial(path))
        # No sync per commit: an interrupted build is rebuilt, never resumed; close() syncs once.
        self.env = lmdb.open(partial(path), map_size=max(map_size, 1 << 20), sync=False, metasync=False)
        self.pending, self.pending_bytes, self.meta = [], 0, []

    def add(self, key, shape, value):
        self.pending.append((key.encode('ascii'), value))
        self.pending_bytes += len(value)
        height, width, channels = shape
        self.meta.append(f'{key}.{self.encoding} ({height},{width},{channels}) {ENCODINGS[self.encoding]}\n')
        if self.pending_bytes >= COMMIT_BYTES:
            self.commit()

    def commit(self):
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for key, value in self.pending:
                        txn.put(key, value)
                break
            except lmdb.MapFullError:
                # The failed transaction was aborted on leaving the block; grow the map and write it again.
                self.env.set_mapsize(self.env.info()['map_size'] * 2)
        self.pending, self.pending_bytes = [], 0

    def close(self):
        self.commit()
        self.env.sync(True)
        self.env.close()
        with open(os.path.join(partial(self.path), META_INFO), 'w') as f:
            f.writelines(self.meta)

    def abort(self):
        self.env.close()


def check_lmdb(folder, expected_keys):
    """Raise unless the LMDB at `folder` and its meta_info.txt hold exactly `expected_keys`, and BasicSR's own
    reader decodes the first image to the shape its meta_info line states."""
    with open(os.path.join(folder, META_INFO)) as f:
        lines = f.read().splitlines()
    meta_keys = [line.split('.')[0] for line in lines]
    env = lmdb.open(folder, readonly=True, lock=False)
    with env.begin() as txn:
        stored = [key.decode('ascii') for key in txn.cursor().iternext(keys=True, values=False)]
    env.close()
    expected = set(expected_keys)
    for what, keys in (('meta_info.txt', meta_keys), ('the database', stored)):
        if len(keys) != len(expected_keys) or set(keys) != expected:
            missing, extra = sorted(expected - set(keys))[:3], sorted(set(keys) - expected)[:3]
            raise PrepareError(f'{folder}: {what} holds {len(keys)} keys, not the {len(expected_keys)} planned '
                               f'(missing {missing}, unexpected {extra}); the output was not published')
    first = lines[0].split()
    client = FileClient('lmdb', db_paths=[folder], client_keys=['check'])
    shape = imfrombytes(client.get(meta_keys[0], 'check'), flag='unchanged').shape
    if f'({shape[0]},{shape[1]},{shape[2]})' != first[1]:
        raise PrepareError(f'{folder}: {meta_keys[0]} decodes to {shape}, meta_info.txt says {first[1]}')
