"""Time BasicSR's two-step DIV2K preparation against our one pass, in one process, on the same photographs.

The two-step route (BasicSR's scripts/data_preparation): bicubic LR files for every scale (DIV2K ships X4,
not X8), every HR and LR folder cropped into sub-image PNG files (compression 3), then each sub-image folder
read back into an LMDB by basicsr.utils.lmdb_util.make_lmdb_from_imgs. Both routes get the same worker count.
"""
import os
import tempfile
import time
from itertools import zip_longest

import cv2
import lmdb
import numpy as np
from basicsr.utils.lmdb_util import make_lmdb_from_imgs
from tqdm import tqdm

from igan_basicsr.prepare.bicubic import bicubic_pair
from igan_basicsr.prepare.div2k_lmdb import (
    HR_FOLDER,
    hr_lmdb_name,
    lr_files_folder,
    lr_lmdb_name,
    prepare_div2k_lmdb,
    worker_pool,
)
from igan_basicsr.prepare.images import FILE_PNG_LEVEL, image_stem, list_images, read_image, write_png
from igan_basicsr.prepare.photos import div2k_like
from igan_basicsr.prepare.scales import DEFAULT_SCALES
from igan_basicsr.prepare.subimages import Grid

STAND_INS = 16


def write_stand_ins(hr_dir, count):
    """`count` DIV2K-sized stand-in photographs as HR_DIR/0001.png ..."""
    os.makedirs(hr_dir, exist_ok=True)
    for index in tqdm(range(count), unit='img', desc='stand-in photographs'):
        write_png(os.path.join(hr_dir, f'{index + 1:04d}.png'), div2k_like(index))


def _write_lr_files(task):
    path, root, scales = task
    hr = read_image(path)
    for scale in scales:
        lr_path = os.path.join(lr_files_folder(root, scale), f'{image_stem(path)}x{scale}.png')
        write_png(lr_path, bicubic_pair(hr, scale)[1])


def _crop_to_files(task):
    # BasicSR's extract_subimages.py is a repository script, not part of the basicsr package, so its worker is
    # restated here: the same grid, names ({stem}_s{index:03d}, any x{s} suffix dropped) and PNG level.
    path, save_dir, grid, suffix = task
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    stem = image_stem(path).removesuffix(suffix)
    for index, (top, left) in enumerate(grid.positions(*img.shape[:2]), 1):
        cv2.imwrite(os.path.join(save_dir, f'{stem}_s{index:03d}.png'), img[top:top + grid.crop, left:left + grid.crop],
                    [cv2.IMWRITE_PNG_COMPRESSION, FILE_PNG_LEVEL])


def two_step_folders(root, scales, grid):
    """(source folder, sub-image folder, its LMDB path, grid, name suffix) for HR and each scale, BasicSR's names."""
    folders = [(os.path.join(root, HR_FOLDER), os.path.join(root, f'{HR_FOLDER}_sub'), hr_lmdb_name(), grid, '')]
    for scale in scales:
        lr_grid = Grid(grid.crop // scale, grid.step // scale, grid.thresh_size)
        source = lr_files_folder(root, scale)
        folders.append((source, f'{source}_sub', lr_lmdb_name(scale), lr_grid, f'x{scale}'))
    return folders


def make_lr_files(root, scales, workers):
    for scale in scales:
        os.makedirs(lr_files_folder(root, scale), exist_ok=True)
    tasks = [(path, root, scales) for path in list_images(os.path.join(root, HR_FOLDER))]
    with worker_pool(workers) as pool:
        list(tqdm(pool.imap_unordered(_write_lr_files, tasks), total=len(tasks), unit='img', desc='LR files'))


def crop_to_files(root, scales, grid, workers):
    with worker_pool(workers) as pool:
        for source, save_dir, _, folder_grid, suffix in two_step_folders(root, scales, grid):
            os.makedirs(save_dir)
            tasks = [(path, save_dir, folder_grid, suffix) for path in list_images(source)]
            list(tqdm(pool.imap_unordered(_crop_to_files, tasks), total=len(tasks), unit='img', desc='crop to files'))


def files_to_lmdb(root, scales, grid, out):
    for _, save_dir, lmdb_name, _, _ in two_step_folders(root, scales, grid):
        names = sorted(f for f in os.listdir(save_dir) if f.endswith('.png'))
        make_lmdb_from_imgs(save_dir, os.path.join(out, lmdb_name), names, [n[:-len('.png')] for n in names])


def _decode(value):
    return cv2.imdecode(np.frombuffer(value, np.uint8), cv2.IMREAD_UNCHANGED)


def same_contents(path_a, path_b):
    """Whether two image LMDBs hold the same keys with the same pixels (encodings may differ)."""
    env_a, env_b = (lmdb.open(p, readonly=True, lock=False) for p in (path_a, path_b))
    with env_a.begin() as txn_a, env_b.begin() as txn_b:
        same = all(key_a == key_b and np.array_equal(_decode(value_a), _decode(value_b))
                   for (key_a, value_a), (key_b, value_b) in zip_longest(txn_a.cursor(), txn_b.cursor(),
                                                                         fillvalue=(None, b'')))
    env_a.close()
    env_b.close()
    return same


def _timed(stages, name, step, *args):
    start = time.perf_counter()
    step(*args)
    stages[name] = time.perf_counter() - start


def compare(hr_dir=None, count=STAND_INS, scales=DEFAULT_SCALES, workers=None, work_dir=None):
    """Run both routes on `hr_dir` (default: `count` stand-ins) and print their times, the ratio, and whether
    the LMDBs hold the same images."""
    workers = workers or os.cpu_count()
    grid = Grid()
    with tempfile.TemporaryDirectory(dir=work_dir, prefix='bench_prepare_') as tmp:
        root = os.path.join(tmp, 'DIV2K')
        if hr_dir:
            os.makedirs(root)
            os.symlink(os.path.abspath(hr_dir), os.path.join(root, HR_FOLDER))
        else:
            write_stand_ins(os.path.join(root, HR_FOLDER), count)
        photos = len(list_images(os.path.join(root, HR_FOLDER)))
        two_step_out, one_pass_out = os.path.join(tmp, 'two_step'), os.path.join(tmp, 'one_pass')
        os.makedirs(two_step_out)
        with worker_pool(workers):
            pass  # starts the fork server, outside both timings
        stages, ours = {}, {}
        _timed(stages, 'LR files', make_lr_files, root, scales, workers)
        _timed(stages, 'crop to PNG files', crop_to_files, root, scales, grid, workers)
        _timed(stages, 'files to LMDB', files_to_lmdb, root, scales, grid, two_step_out)
        # The one pass starts from the HR photographs alone and makes its LR images itself.
        hr_only = os.path.join(tmp, 'hr_only')
        os.makedirs(hr_only)
        os.symlink(os.path.join(root, HR_FOLDER), os.path.join(hr_only, HR_FOLDER))
        _timed(ours, 'one pass', prepare_div2k_lmdb, hr_only, scales, one_pass_out, grid, 'png', workers)
        one_pass = ours['one pass']
        names = [hr_lmdb_name()] + [lr_lmdb_name(s) for s in scales]
        same = all(same_contents(os.path.join(two_step_out, n), os.path.join(one_pass_out, n)) for n in names)
    two_step = sum(stages.values())
    without_lr = two_step - stages['LR files']
    print(f'\n{photos} photographs, scales {list(scales)}, {workers} workers')
    for stage, seconds in stages.items():
        print(f'  two-step {stage:<20}{seconds:8.1f} s')
    print(f'two-step (BasicSR scripts)        {two_step:8.1f} s')
    print(f'one pass (prepare_div2k_lmdb)     {one_pass:8.1f} s')
    print(f'speed-up                          {two_step / one_pass:8.2f} x   '
          f'({without_lr / one_pass:.2f} x against the two steps after LR files already exist)')
    # The one pass crops each photograph to a multiple of every scale first; the two steps do not.
    verdict = 'yes' if same else 'no (expected where a side is not a multiple of every scale)'
    print(f'same keys and pixels in every LMDB: {verdict}')
    return {'stages': stages, 'two_step': two_step, 'one_pass': one_pass, 'same': same}
