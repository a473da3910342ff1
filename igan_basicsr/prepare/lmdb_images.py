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


def read_meta_info(folder):
    """[(key, (height, width, channels) or None)] of the LMDB at `folder`, from its meta_info.txt lines in order."""
    with open(os.path.join(folder, META_INFO)) as f:
        lines = [line.split() for line in f if line.strip()]
    entries = []
    for fields in lines:
        shape = fields[1].strip('()').split(',') if len(fields) > 1 else []
        entries.append((fields[0].split('.')[0], tuple(map(int, shape)) if all(map(str.isdigit, shape)) else None))
    return entries


def stored_keys(folder):
    """The keys the LMDB at `folder` holds, once its data.mdb is known to be as long as its own header says: a
    truncated file (an interrupted copy) is otherwise read through a memory map and kills the reader with a bus
    error when it reaches the missing pages."""
    data = os.path.join(folder, 'data.mdb')
    try:
        env = lmdb.open(folder, readonly=True, lock=False)
    except lmdb.Error as err:
        raise PrepareError(f'{data}: not a readable LMDB ({err}); copy it again or rebuild it') from None
    try:
        needed = (env.info()['last_pgno'] + 1) * env.stat()['psize']
        size = os.path.getsize(data)
        if size < needed:
            raise PrepareError(f'{data} is {size} bytes but its header says {needed}: the file is truncated (an '
                               'interrupted copy?); copy it again or rebuild it')
        with env.begin() as txn:
            return [key.decode('ascii') for key in txn.cursor().iternext(keys=True, values=False)]
    finally:
        env.close()


def check_readable(folder):
    """Raise a PrepareError naming the file unless the LMDB at `folder` is whole and holds every key its
    meta_info.txt lists (basicsr reads the keys from the text and the values from the database)."""
    listed = [key for key, _ in read_meta_info(folder)]
    missing = sorted(set(listed) - set(stored_keys(folder)))
    if missing:
        few = ', '.join(missing[:3]) + (', ...' if len(missing) > 3 else '')
        raise PrepareError(f'{os.path.join(folder, META_INFO)} lists {len(missing)} key{"s" * (len(missing) > 1)} '
                           f'that {os.path.join(folder, "data.mdb")} does not hold ({few}): the database is '
                           'incomplete; copy it again or rebuild it')


def check_lmdb(folder, expected_keys):
    """Raise unless the LMDB at `folder` and its meta_info.txt hold exactly `expected_keys`, and BasicSR's own
    reader decodes the first image to the shape its meta_info line states."""
    meta = read_meta_info(folder)
    meta_keys = [key for key, _ in meta]
    stored = stored_keys(folder)
    expected = set(expected_keys)
    for what, keys in (('meta_info.txt', meta_keys), ('the database', stored)):
        if len(keys) != len(expected_keys) or set(keys) != expected:
            missing, extra = sorted(expected - set(keys))[:3], sorted(set(keys) - expected)[:3]
            raise PrepareError(f'{folder}: {what} holds {len(keys)} keys, not the {len(expected_keys)} planned '
                               f'(missing {missing}, unexpected {extra}); the output was not published')
    shape = decode_value(folder, meta_keys[0]).shape
    if shape != meta[0][1]:
        raise PrepareError(f'{folder}: {meta_keys[0]} decodes to {shape}, meta_info.txt says {meta[0][1]}')


def decode_value(folder, key):
    """The image stored under `key` in the LMDB at `folder`, decoded by BasicSR's own reader."""
    client = FileClient('lmdb', db_paths=[folder], client_keys=['check'])
    return imfrombytes(client.get(key, 'check'), flag='unchanged')
