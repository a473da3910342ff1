"""DIV2K's photographs straight into BasicSR's training LMDBs: HR and every bicubic LR scale in one pass.

BasicSR's own route writes every sub-image of every folder (HR, each LR scale, made beforehand) as a PNG file,
then reads them all back into one LMDB per folder. Here each HR photograph is read once: worker processes crop
it to a multiple of every scale, take its LR images from DIV2K's LR folders where they are there and make the
missing ones with MATLAB's bicubic, cut the HR sub-images on BasicSR's grid and the LR ones at the same places
(offsets and size divided by the scale, so pairs align exactly) and encode them; the main process writes them
in order into one LMDB per output. Names and keys are BasicSR's:

    ROOT/DIV2K_train_HR/0001.png, ROOT/DIV2K_train_LR_bicubic/X{s}/0001x{s}.png (optional) ...
        ->  DIV2K_train_HR_sub.lmdb, DIV2K_train_LR_bicubic_X{s}_sub.lmdb
"""
import glob
import math
import multiprocessing
import os
import re
import shutil
from contextlib import contextmanager
from typing import NamedTuple

import lmdb
import numpy as np
from basicsr.data.transforms import mod_crop
from basicsr.utils import imfrombytes
from tqdm import tqdm

from ..atomic import claim, discard, partial, publish
from .bicubic import bicubic_pair
from .errors import PrepareError
from .images import ENCODINGS, encode, image_stem, list_images, probe, read_image
from .lmdb_images import LmdbImageWriter, check_lmdb, check_readable, read_meta_info, stored_size
from .scales import DEFAULT_SCALES, check_scales
from .subimages import Grid, subimage_key

HR_FOLDER = 'DIV2K_train_HR'
LR_FOLDER = 'DIV2K_train_LR_bicubic'
# What a file name may hold to become an LMDB key: BasicSR encodes keys as ASCII, cuts them at the first dot
# of a meta_info line and separates the line's fields by spaces.
KEY_NAME = re.compile(r'[A-Za-z0-9_-]+')
# Room over the size measured on the first photograph, since later photographs may compress worse.
SIZE_MARGIN = 1.25


def check_free_space(folder, needed_bytes):
    free = shutil.disk_usage(folder).free
    print(f'expected output size about {needed_bytes / 1e9:.2f} GB; {free / 1e9:.1f} GB free in {folder}', flush=True)
    if free < needed_bytes:
        raise PrepareError(f'{folder} has {free / 1e9:.2f} GB free but the output needs about '
                           f'{needed_bytes / 1e9:.2f} GB: free some space or write elsewhere')


def hr_lmdb_name():
    return 'DIV2K_train_HR_sub.lmdb'


def lr_lmdb_name(scale):
    return f'DIV2K_train_LR_bicubic_X{scale}_sub.lmdb'


def lr_files_folder(root, scale):
    """Where DIV2K keeps the bicubic LR images of `scale`: {stem}x{scale}.png each."""
    return os.path.join(root, LR_FOLDER, f'X{scale}')


def given_lr(root, scale, hr_sizes):
    """{stem: LR path} of the LR images of `scale` under ROOT, each checked against its HR image's header.

    DIV2K's LR images are the bicubic of the HR one cropped to a multiple of the scale: exactly 1/scale its size.
    """
    folder = lr_files_folder(root, scale)
    if not os.path.isdir(folder):
        return {}
    found = {}
    for path in list_images(folder) if os.listdir(folder) else []:
        stem = image_stem(path)
        if not stem.endswith(f'x{scale}'):
            raise PrepareError(f'{path}: LR images of X{scale} are named {{HR name}}x{scale}.png: rename or remove it')
        stem = stem[:-len(f'x{scale}')]
        if stem not in hr_sizes:
            raise PrepareError(f'{path} has no HR image {stem}.* in {os.path.join(root, HR_FOLDER)}: add the HR '
                               'image or remove the LR one')
        height, width = hr_sizes[stem]
        expected, size = (height // scale, width // scale), probe(path)
        if size != expected:
            raise PrepareError(f'{path} is {size[0]}x{size[1]}, not its HR image\'s size / {scale} '
                               f'({expected[0]}x{expected[1]}): it is not the X{scale} bicubic of {stem}; remove it '
                               'to have it made from the HR image')
        found[stem] = path
    return found


def _check_settings(scales, grid, encoding):
    if grid.crop < 1 or grid.step < 1 or grid.thresh_size < 0:
        raise PrepareError(f'crop size and step must be positive and thresh size not negative, got {grid}')
    for scale in scales:
        if grid.crop % scale or grid.step % scale:
            raise PrepareError(f'crop size {grid.crop} and step {grid.step} must both be multiples of scale {scale} '
                               'so that LR sub-images start on whole LR pixels')
    if encoding not in ENCODINGS:
        raise PrepareError(f'encoding must be one of {", ".join(ENCODINGS)}, got {encoding!r}')


class Source(NamedTuple):
    """One photograph to cut: where its pixels come from and where its sub-images start."""
    stem: str
    path: str
    lr_paths: tuple  # per scale, the given LR image or None (made with MATLAB bicubic)
    size: tuple  # (height, width) once cropped to a multiple of every scale
    positions: list  # (top, left) of each HR sub-image, in grid order


class CutTask(NamedTuple):
    """What a worker process needs to cut and encode one photograph."""
    source: Source
    crop: int
    scales: tuple
    encoding: str


def plan(root, scales, grid):
    """A Source per photograph, from names and headers; says how many LR images are given and how many will be
    made."""
    multiple = math.lcm(*scales)
    hr_paths = list_images(os.path.join(root, HR_FOLDER))
    for path in hr_paths:
        stem = image_stem(path)
        if not KEY_NAME.fullmatch(stem):
            raise PrepareError(f'{path}: the name {stem!r} cannot be an LMDB key (ASCII letters, digits, _ and - '
                               'only): rename the file')
    hr_sizes = {image_stem(path): probe(path) for path in hr_paths}
    lr_paths = {scale: given_lr(root, scale, hr_sizes) for scale in scales}
    for scale, found in lr_paths.items():
        made = len(hr_paths) - len(found)
        print(f'X{scale}: {len(found)} LR images from {lr_files_folder(root, scale)}'
              + (f', {made} made with MATLAB bicubic from the HR images cropped to a multiple of {multiple}'
                 if made else ''), flush=True)
    sources = []
    for path in hr_paths:
        stem = image_stem(path)
        height, width = hr_sizes[stem]
        height, width = height - height % multiple, width - width % multiple
        if min(height, width) < grid.crop:
            raise PrepareError(f'{path} is {height}x{width} (cropped to a multiple of {multiple}), smaller than the '
                               f'crop size {grid.crop}: remove it or choose a smaller --crop')
        sources.append(Source(stem, path, tuple(lr_paths[s].get(stem) for s in scales), (height, width),
                              grid.positions(height, width)))
    return sources


def cut_and_encode(task):
    """Encoded sub-images of one photograph: [HR list, then one list per scale], in grid order."""
    source, crop, scales, encoding = task
    path, size, positions = source.path, source.size, source.positions
    hr = mod_crop(read_image(path), math.lcm(*scales))
    if hr.shape[:2] != size:
        raise PrepareError(f'{path} decodes to {hr.shape[:2]} pixels (cropped) but its header says {size}: '
                           're-save it with a plain encoder')
    outputs = [[encode(hr[top:top + crop, left:left + crop], encoding) for top, left in positions]]
    for scale, lr_path in zip(scales, source.lr_paths):
        # A given LR image covers the whole HR one; the sub-images only reach into its cropped part.
        lr = read_image(lr_path) if lr_path else bicubic_pair(hr, scale)[1]
        side = crop // scale
        outputs.append([encode(lr[top // scale:top // scale + side, left // scale:left // scale + side], encoding)
                        for top, left in positions])
    return outputs


def single_threaded():
    # N workers already fill N cores; torch (inside the bicubic resize) and OpenCV would otherwise each start
    # a thread per core in every worker.
    import cv2
    import torch
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def worker_pool(workers):
    """A pool of `workers` single-threaded processes forked from a fresh server, not from the caller.

    A child forked from a process whose OpenCV thread pool has run (the demo, the benchmarks) deadlocks on
    that pool's locks; the fork server has never run it, and has this module imported once for all workers.
    """
    context = multiprocessing.get_context('forkserver')
    context.set_forkserver_preload([__name__])
    return context.Pool(workers, initializer=single_threaded)


@contextmanager
def _ordered_map(workers):
    """An order-keeping lazy map over `workers` processes, or in this process for one worker."""
    if workers <= 1:
        yield map
    else:
        with worker_pool(workers) as pool:
            yield pool.imap


class ExistingHr:
    """The HR LMDB that new LR scales are written beside, known to hold the sub-images this run cuts: the same
    keys and size, and the same pixels at each photograph's first and last place (the last row and column move
    when a photograph is cropped to another multiple of the scales, and an LR sub-image must cover its HR one)."""

    def __init__(self, path, keys, crop):
        self.path = path
        try:
            check_readable(path)
            meta = read_meta_info(path)
        except (OSError, PrepareError) as err:
            raise PrepareError(f'cannot add LR scales beside {path}: {err}') from None
        listed = [key for key, _ in meta]
        if listed != keys:
            missing, extra = sorted(set(keys) - set(listed))[:3], sorted(set(listed) - set(keys))[:3]
            raise PrepareError(f'{path} holds {len(listed)} sub-images, not the {len(keys)} this grid cuts (missing '
                               f'{missing}, unexpected {extra}): it was cut from other photographs or with another '
                               f'--crop/--step; {self.REBUILD}')
        shapes = sorted({shape for _, shape in meta}, key=str)
        if shapes != [(crop, crop, 3)]:
            raise PrepareError(f'{path} holds sub-images of {shapes[0]}, not ({crop}, {crop}, 3): it was cut with '
                               f'another --crop; {self.REBUILD}')
        self.env = lmdb.open(path, readonly=True, lock=False)

    REBUILD = 'rebuild every scale with --overwrite, or write the new scales elsewhere with --out'

    def check(self, source, hr_blobs):
        with self.env.begin() as txn:
            for index in (1, len(hr_blobs)):
                key = subimage_key(source.stem, index)
                stored = imfrombytes(txn.get(key.encode('ascii')), flag='unchanged')
                if not np.array_equal(stored, imfrombytes(hr_blobs[index - 1], flag='unchanged')):
                    raise PrepareError(f'{self.path}: {key} is not the sub-image this run cuts at its place: the HR '
                                       'LMDB was cut from photographs cropped to another multiple of the scales, or '
                                       f'from other photographs; {self.REBUILD}')

    def close(self):
        self.env.close()


def existing_hr(paths, keys, grid, overwrite):
    """An ExistingHr where the HR output exists and none of the LR ones does (and no overwrite): the run then adds
    the LR scales only. None otherwise."""
    if overwrite or not os.path.exists(paths[0]) or any(map(os.path.exists, paths[1:])):
        return None
    hr = ExistingHr(paths[0], keys, grid.crop)
    print(f'{paths[0]} holds the {len(keys)} sub-images this grid cuts: adding {", ".join(paths[1:])} beside it',
          flush=True)
    return hr


def prepare_div2k_lmdb(root, scales=DEFAULT_SCALES, out=None, grid=Grid(), encoding='png', workers=None,
                       overwrite=False):
    """Write ROOT/DIV2K_train_HR's sub-images as HR and LR-xS LMDBs in `out` (default ROOT); returns their paths.

    Beside an existing HR LMDB, without `overwrite`, only the LR LMDBs are written (see ExistingHr). Everything
    that can be checked before the first write is: settings, every image's name and header, the outputs (refused
    if present unless `overwrite`) and the free disk space.
    """
    scales = check_scales(scales)
    _check_settings(scales, grid, encoding)
    out = root if out is None else out
    sources = plan(root, scales, grid)
    keys = [subimage_key(s.stem, i) for s in sources for i in range(1, len(s.positions) + 1)]
    paths = [os.path.join(out, hr_lmdb_name())] + [os.path.join(out, lr_lmdb_name(s)) for s in scales]
    others = sorted(set(glob.glob(os.path.join(out, lr_lmdb_name('*')))) - set(paths))
    if overwrite and os.path.exists(paths[0]) and others:
        raise PrepareError(f'replacing {paths[0]} would leave {", ".join(others)} cut from the old HR images: '
                           'add their scales to this run, or remove them')
    hr = existing_hr(paths, keys, grid, overwrite)
    outputs = paths[1:] if hr else paths
    claim(outputs, overwrite, PrepareError)
    os.makedirs(out, exist_ok=True)
    tasks = [CutTask(source, grid.crop, tuple(scales), encoding) for source in sources]
    workers = workers or os.cpu_count()
    print(f'{len(sources)} images -> {len(keys)} sub-images each in {", ".join(outputs)} ({workers} workers)',
          flush=True)
    shapes = [(grid.crop // s, grid.crop // s, 3) for s in (1,) + scales][-len(outputs):]
    try:
        _write(outputs, shapes, sources, tasks, keys, workers, hr)
    finally:
        if hr:
            hr.close()
    for path in outputs:
        publish(path)
        size = os.path.getsize(os.path.join(path, 'data.mdb'))
        print(f'wrote {path}: {len(keys)} images, {size / 1e6:.1f} MB', flush=True)
    return outputs


def _open_writers(paths, first, count, encoding):
    # Sized on the first photograph; the writers grow their maps if the rest needs more.
    estimates = [sum(map(stored_size, map(len, blobs))) / len(blobs) * count * SIZE_MARGIN for blobs in first]
    check_free_space(os.path.dirname(paths[0]) or '.', sum(estimates))
    return [LmdbImageWriter(path, encoding, int(size)) for path, size in zip(paths, estimates)]


def _write(outputs, shapes, sources, tasks, keys, workers, hr):
    """Every output under NAME.partial, checked; the partial outputs are removed if anything fails."""
    writers = []
    try:
        with _ordered_map(workers) as ordered_map, tqdm(total=len(sources), unit='img', desc='to LMDB') as bar:
            for source, encoded in zip(sources, ordered_map(cut_and_encode, tasks)):
                if hr:
                    hr.check(source, encoded[0])
                    encoded = encoded[1:]
                writers = writers or _open_writers(outputs, encoded, len(keys), tasks[0].encoding)
                for writer, shape, blobs in zip(writers, shapes, encoded):
                    for index, blob in enumerate(blobs, 1):
                        writer.add(subimage_key(source.stem, index), shape, blob)
                bar.update()
        for writer in writers:
            writer.close()
        for path in outputs:
            check_lmdb(partial(path), keys)
    except BaseException:
        for writer in writers:
            writer.abort()
        for path in outputs:
            discard(path)
        raise
