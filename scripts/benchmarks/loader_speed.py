"""Training patches per second through BasicSR's own data loader, from the same sub-images stored three ways.

PNG files in folders (BasicSR's crop step, compression 3), a PNG LMDB and a BMP LMDB (prepare_div2k_lmdb),
each read by PairedImageDataset with the training options of options/train_IGAN_x4.yml (HR patch 192,
batch 16, flips and rotations), through build_dataloader with 2 and 4 worker processes.
"""
import os
import tempfile
import time

from basicsr.data import build_dataloader, build_dataset
from basicsr.data.data_sampler import EnlargedSampler

from igan_basicsr.prepare.div2k_lmdb import HR_FOLDER, hr_lmdb_name, lr_lmdb_name, prepare_div2k_lmdb
from igan_basicsr.prepare.subimages import Grid
from scripts.benchmarks.prepare_speed import crop_to_files, make_lr_files, two_step_folders, write_stand_ins

SCALE = 4
GT_SIZE = 192
BATCH = 16
WORKER_COUNTS = (2, 4)
STAND_INS = 8


def stores(root, workers):
    """{name: (gt, lq, io backend)} for the stand-ins under root, each store built from the same sub-images."""
    grid = Grid()
    make_lr_files(root, (SCALE,), workers)
    crop_to_files(root, (SCALE,), grid, workers)
    (_, hr_sub, _, _, _), (_, lr_sub, _, _, _) = two_step_folders(root, (SCALE,), grid)
    result = {'PNG folders': (hr_sub, lr_sub, 'disk')}
    for encoding in ('png', 'bmp'):
        out = os.path.join(root, f'lmdb_{encoding}')
        prepare_div2k_lmdb(root, (SCALE,), out=out, grid=grid, encoding=encoding, workers=workers)
        result[f'{encoding.upper()} LMDB'] = (os.path.join(out, hr_lmdb_name()), os.path.join(out, lr_lmdb_name(SCALE)),
                                              'lmdb')
    return result


def patches_per_second(gt, lq, backend, workers, batches, warmup=2):
    """Patches per second over `batches` batches, after `warmup` batches that start the workers."""
    opt = {'name': 'speed', 'type': 'PairedImageDataset', 'phase': 'train', 'scale': SCALE,
           'dataroot_gt': gt, 'dataroot_lq': lq, 'io_backend': {'type': backend}, 'filename_tmpl': '{}',
           'gt_size': GT_SIZE, 'use_hflip': True, 'use_rot': True,
           'num_worker_per_gpu': workers, 'batch_size_per_gpu': BATCH}
    dataset = build_dataset(opt)
    ratio = -(-(batches + warmup) * BATCH // len(dataset))
    loader = build_dataloader(dataset, opt, num_gpu=0, dist=False, sampler=EnlargedSampler(dataset, 1, 0, ratio),
                              seed=0)
    batch_iter = iter(loader)
    for _ in range(warmup):
        next(batch_iter)
    start = time.perf_counter()
    for _ in range(batches):
        next(batch_iter)
    return batches * BATCH / (time.perf_counter() - start)


def compare(count=STAND_INS, batches=40, worker_counts=WORKER_COUNTS, work_dir=None):
    """Print patches/s for every store and worker count, and each LMDB's ratio to the PNG folders."""
    with tempfile.TemporaryDirectory(dir=work_dir, prefix='bench_loader_') as tmp:
        root = os.path.join(tmp, 'DIV2K')
        write_stand_ins(os.path.join(root, HR_FOLDER), count)
        sources = stores(root, max(worker_counts))
        rates = {(name, workers): patches_per_second(*source, workers, batches)
                 for name, source in sources.items() for workers in worker_counts}
    baseline = next(iter(sources))
    print(f'\n{count} stand-in photographs, x{SCALE}, HR patch {GT_SIZE}, batch {BATCH}, {batches} batches timed; '
          'patches/s (ratio to PNG folders)')
    print(f'{"":<14}' + ''.join(f'{f"{w} workers":>22}' for w in worker_counts))
    for name in sources:
        cells = [f'{rates[name, w]:10.1f} ({rates[name, w] / rates[baseline, w]:5.2f} x)' for w in worker_counts]
        print(f'{name:<14}' + ''.join(f'{c:>22}' for c in cells))
    return rates
