"""The data side: BasicSR's two-step DIV2K-to-LMDB preparation against prepare_div2k_lmdb's one pass (prepare), and
the training patches per second basicsr's own loader delivers from each way of storing the sub-images (loader).

    python -m scripts.benchmarks.data prepare        # 16 DIV2K-sized stand-in photographs in a temp folder
    python -m scripts.benchmarks.data prepare datasets/DIV2K/DIV2K_train_HR --workers 8
    python -m scripts.benchmarks.data loader         # 8 stand-ins: PNG folders, PNG LMDB, BMP LMDB; 2 and 4 workers
    python -m scripts.benchmarks.data loader --stores png bmp --workers 4 8 16 --warmup 51 --batches 99 \\
        --consume-json results/train_speed/train_speed.json

Stand-ins are scikit-image's photographs, enlarged to DIV2K's size, with grain. prepare: the two-step route
(BasicSR's scripts/data_preparation): bicubic LR files for every scale (DIV2K ships X4, not X8), every HR and LR
folder cropped into sub-image PNG files (compression 3), then each sub-image folder read back into an LMDB by
basicsr.utils.lmdb_util.make_lmdb_from_imgs; both routes get the same worker count; it prints each route's time,
the ratio and whether both wrote the same images. loader: the same 480-pixel sub-images as PNG files in folders
(BasicSR's crop step), a PNG and a BMP LMDB (prepare_div2k_lmdb), each read by PairedImageDataset with the
training options of options/train_IGAN_x4.yml (HR patch 192, batch 16, flips and rotations) through basicsr's
build_dataloader and, on CUDA, its CUDAPrefetcher (prefetch_mode: cuda, pin_memory: true), each batch waited for
on the device; patches/s over --batches batches after --warmup batches. --consume-json names a train_speed.json
(`training speed`): its fastest step's patches/s is what the loader must deliver.
"""
import json
import os
import sys
import tempfile
import time
from itertools import zip_longest
from typing import NamedTuple

import cv2
import lmdb
import numpy as np
import torch
from basicsr.data import build_dataloader, build_dataset
from basicsr.data.data_sampler import EnlargedSampler
from basicsr.data.prefetch_dataloader import CUDAPrefetcher
from basicsr.utils.lmdb_util import make_lmdb_from_imgs
from tqdm import tqdm

from igan_basicsr.comparison.measure import sync
from igan_basicsr.comparison.report import write_table
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
from scripts.benchmarks.common import OneLineParser, Refusal, check_positive, run_command

SCALE, GT_SIZE, BATCH = 4, 192, 16  # the loader's: options/train_IGAN_x4.yml
STORES = {'folders': 'PNG folders', 'png': 'PNG LMDB', 'bmp': 'BMP LMDB'}


def write_stand_ins(hr_dir, count):
    """`count` DIV2K-sized stand-in photographs as HR_DIR/0001.png ..."""
    os.makedirs(hr_dir, exist_ok=True)
    for index in tqdm(range(count), unit='img', desc='stand-in photographs'):
        write_png(os.path.join(hr_dir, f'{index + 1:04d}.png'), div2k_like(index))


# ---------------------------------------------------------------------------------------------- two-step route
def _write_lr_files(task):
    path, root, scales = task
    hr = read_image(path)
    for scale in scales:
        write_png(os.path.join(lr_files_folder(root, scale), f'{image_stem(path)}x{scale}.png'),
                  bicubic_pair(hr, scale)[1])


def _crop_to_files(task):
    # BasicSR's extract_subimages.py is a repository script, not part of the basicsr package, so its worker is
    # restated here: the same grid, names ({stem}_s{index:03d}, any x{s} suffix dropped) and PNG level.
    path, save_dir, grid, suffix = task
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    stem = image_stem(path).removesuffix(suffix)
    for index, (top, left) in enumerate(grid.positions(*img.shape[:2]), 1):
        cv2.imwrite(os.path.join(save_dir, f'{stem}_s{index:03d}.png'), img[top:top + grid.crop, left:left + grid.crop],
                    [cv2.IMWRITE_PNG_COMPRESSION, FILE_PNG_LEVEL])


class Folder(NamedTuple):
    """One folder of the two-step route: its images, their sub-image folder, that folder's LMDB name, its grid
    and the name suffix dropped from its sub-images."""
    source: str
    sub: str
    lmdb_name: str
    grid: Grid
    suffix: str


def two_step_folders(root, scales, grid):
    """The Folder of HR and of each scale, with BasicSR's names."""
    folders = [Folder(os.path.join(root, HR_FOLDER), os.path.join(root, f'{HR_FOLDER}_sub'), hr_lmdb_name(), grid, '')]
    for scale in scales:
        source = lr_files_folder(root, scale)
        folders.append(Folder(source, f'{source}_sub', lr_lmdb_name(scale),
                              Grid(grid.crop // scale, grid.step // scale, grid.thresh_size), f'x{scale}'))
    return folders


def make_lr_files(root, scales, workers):
    for scale in scales:
        os.makedirs(lr_files_folder(root, scale), exist_ok=True)
    tasks = [(path, root, scales) for path in list_images(os.path.join(root, HR_FOLDER))]
    with worker_pool(workers) as pool:
        list(tqdm(pool.imap_unordered(_write_lr_files, tasks), total=len(tasks), unit='img', desc='LR files'))


def crop_to_files(root, scales, grid, workers):
    with worker_pool(workers) as pool:
        for folder in two_step_folders(root, scales, grid):
            os.makedirs(folder.sub)
            tasks = [(path, folder.sub, folder.grid, folder.suffix) for path in list_images(folder.source)]
            list(tqdm(pool.imap_unordered(_crop_to_files, tasks), total=len(tasks), unit='img', desc='crop to files'))


def files_to_lmdb(root, scales, grid, out):
    for folder in two_step_folders(root, scales, grid):
        names = sorted(f for f in os.listdir(folder.sub) if f.endswith('.png'))
        make_lmdb_from_imgs(folder.sub, os.path.join(out, folder.lmdb_name), names, [n[:-len('.png')] for n in names])


def same_contents(path_a, path_b):
    """Whether two image LMDBs hold the same keys with the same pixels (encodings may differ)."""
    def decode(value):
        return cv2.imdecode(np.frombuffer(value, np.uint8), cv2.IMREAD_UNCHANGED)

    env_a, env_b = (lmdb.open(p, readonly=True, lock=False) for p in (path_a, path_b))
    with env_a.begin() as txn_a, env_b.begin() as txn_b:
        same = all(key_a == key_b and np.array_equal(decode(value_a), decode(value_b))
                   for (key_a, value_a), (key_b, value_b) in zip_longest(txn_a.cursor(), txn_b.cursor(),
                                                                         fillvalue=(None, b'')))
    env_a.close()
    env_b.close()
    return same


def _timed(stages, name, step, *args):
    start = time.perf_counter()
    step(*args)
    stages[name] = time.perf_counter() - start


def compare_routes(hr_dir, count, scales, workers, work_dir):
    """Run both routes on `hr_dir` (None: `count` stand-ins) and print their times, the ratio, and whether the
    LMDBs hold the same images."""
    grid = Grid()
    with tempfile.TemporaryDirectory(dir=work_dir, prefix='igan_prepare_') as tmp:
        root = os.path.join(tmp, 'DIV2K')
        if hr_dir:
            os.makedirs(root)
            os.symlink(os.path.abspath(hr_dir), os.path.join(root, HR_FOLDER))
        else:
            write_stand_ins(os.path.join(root, HR_FOLDER), count)
        photos = len(list_images(os.path.join(root, HR_FOLDER)))
        two_step_out, one_pass_out, hr_only = (os.path.join(tmp, n) for n in ('two_step', 'one_pass', 'hr_only'))
        os.makedirs(two_step_out)
        with worker_pool(workers):
            pass  # starts the fork server, outside both timings
        stages, ours = {}, {}
        _timed(stages, 'LR files', make_lr_files, root, scales, workers)
        _timed(stages, 'crop to PNG files', crop_to_files, root, scales, grid, workers)
        _timed(stages, 'files to LMDB', files_to_lmdb, root, scales, grid, two_step_out)
        # The one pass starts from the HR photographs alone and makes its LR images itself.
        os.makedirs(hr_only)
        os.symlink(os.path.join(root, HR_FOLDER), os.path.join(hr_only, HR_FOLDER))
        _timed(ours, 'one pass', prepare_div2k_lmdb, hr_only, scales, one_pass_out, grid, 'png', workers)
        same = all(same_contents(os.path.join(two_step_out, n), os.path.join(one_pass_out, n))
                   for n in [hr_lmdb_name()] + [lr_lmdb_name(s) for s in scales])
    two_step, one_pass = sum(stages.values()), ours['one pass']
    print(f'\n{photos} photographs, scales {list(scales)}, {workers} workers')
    for stage, seconds in stages.items():
        print(f'  two-step {stage:<20}{seconds:8.1f} s')
    print(f'two-step (BasicSR scripts)        {two_step:8.1f} s')
    print(f'one pass (prepare_div2k_lmdb)     {one_pass:8.1f} s')
    print(f'speed-up                          {two_step / one_pass:8.2f} x   '
          f"({(two_step - stages['LR files']) / one_pass:.2f} x against the two steps after LR files already exist)")
    # The one pass crops each photograph to a multiple of every scale first; the two steps do not.
    print('same keys and pixels in every LMDB: '
          + ('yes' if same else 'no (expected where a side is not a multiple of every scale)'))


def prepare(prog, argv):
    """The prepare command."""
    parser = OneLineParser(prog=prog, description="Time BasicSR's two-step DIV2K-to-LMDB preparation against "
                                                  "prepare_div2k_lmdb's one pass, in one process.")
    parser.add_argument('hr', nargs='?', help='folder of HR photographs (default: stand-ins made from scikit-image '
                        'photographs)')
    parser.add_argument('--count', type=int, help='stand-in photographs, when no HR folder is given (default 16)')
    parser.add_argument('--scales', type=int, nargs='+', default=list(DEFAULT_SCALES), help='default %(default)s')
    parser.add_argument('--workers', type=int, help='processes for both routes (default: one per CPU core)')
    parser.add_argument('--work-dir', help='where the temporary folders go (default: the system temp folder)')
    args = parser.parse_args(argv)
    if args.hr and args.count is not None:
        parser.error('--count sets how many stand-in photographs to make, and with an HR folder none are made: '
                     'drop one of the two.')
    compare_routes(args.hr, 16 if args.count is None else args.count, args.scales, args.workers or os.cpu_count(),
                   args.work_dir)
    return 0


# ------------------------------------------------------------------------------------------------------ loader
class Store(NamedTuple):
    """Sub-images stored one way: HR and LR paths, basicsr's io backend, size in MiB."""
    gt: str
    lq: str
    backend: str
    mib: float


def _mib(*paths):
    return sum(os.path.getsize(os.path.join(folder, name)) for path in paths
               for folder, _, names in os.walk(path) for name in names) / 2**20


def make_stores(root, stores, count, workers):
    """{name: Store} of `count` stand-ins written under `root`, every store from the same 480-pixel sub-images."""
    write_stand_ins(os.path.join(root, HR_FOLDER), count)
    found = {}
    if 'folders' in stores:
        make_lr_files(root, (SCALE,), workers)
        crop_to_files(root, (SCALE,), Grid(), workers)
        hr, lr = two_step_folders(root, (SCALE,), Grid())
        found[STORES['folders']] = Store(hr.sub, lr.sub, 'disk', _mib(hr.sub, lr.sub))
    for encoding in (s for s in STORES if s != 'folders' and s in stores):
        out = os.path.join(root, f'lmdb_{encoding}')
        prepare_div2k_lmdb(root, (SCALE,), out=out, grid=Grid(), encoding=encoding, workers=workers)
        gt, lq = os.path.join(out, hr_lmdb_name()), os.path.join(out, lr_lmdb_name(SCALE))
        found[STORES[encoding]] = Store(gt, lq, 'lmdb', _mib(gt, lq))
    return found


def delivered(store, workers, args):
    """(patches/s over --batches batches after --warmup, seconds to the first batch) through basicsr's loader."""
    cuda = args.device == 'cuda'
    opt = {'name': 'speed', 'type': 'PairedImageDataset', 'phase': 'train', 'scale': SCALE,
           'dataroot_gt': store.gt, 'dataroot_lq': store.lq, 'io_backend': {'type': store.backend},
           'filename_tmpl': '{}', 'gt_size': GT_SIZE, 'use_hflip': True, 'use_rot': True,
           'num_worker_per_gpu': workers, 'batch_size_per_gpu': args.batch, 'pin_memory': cuda,
           'prefetch_mode': 'cuda' if cuda else None}
    dataset = build_dataset(opt)
    total = args.warmup + args.batches
    loader = build_dataloader(dataset, opt, num_gpu=1 if cuda else 0, dist=False, seed=0,
                              sampler=EnlargedSampler(dataset, 1, 0, -(-total * args.batch // len(dataset))))
    start = time.perf_counter()
    if cuda:
        take = CUDAPrefetcher(loader, {'num_gpu': 1}).next
    else:
        batches = iter(loader)
        take = lambda: next(batches)  # noqa: E731
    stamps = []
    for _ in range(total):
        data = take()
        sync(args.device)
        assert data['gt'].shape == (args.batch, 3, GT_SIZE, GT_SIZE)
        stamps.append(time.perf_counter())
    del loader
    return args.batches * args.batch / (stamps[-1] - stamps[args.warmup - 1]), stamps[0] - start


class Need(NamedTuple):
    """What a speed run's fastest step consumes."""
    patches_s: float
    variant: str


def consumption(path):
    """The Need of a train_speed.json, or None when it names no fastest step."""
    with open(path) as f:
        best = json.load(f).get('best') or {}
    return Need(best['patches_s'], best['variant']) if 'patches_s' in best else None


def loader_args(prog, argv):
    """(arguments with the defaults filled in, consumption() of --consume-json); one line and exit 2 otherwise."""
    parser = OneLineParser(prog=prog, description="Training patches per second through basicsr's loader from PNG "
                                                  'folders, a PNG LMDB and a BMP LMDB, against what a step eats.')
    parser.add_argument('--stores', nargs='+', choices=list(STORES), default=list(STORES),
                        help='ways of storing the sub-images (default: all)')
    parser.add_argument('--workers', type=int, nargs='+', help='loader worker counts (default 2 4; tiny 1 2)')
    parser.add_argument('--count', type=int, help='stand-in photographs (default 8; tiny 2)')
    parser.add_argument('--batches', type=int, help='timed batches per case (default 40; tiny 4)')
    parser.add_argument('--warmup', type=int, default=2, help='batches read before timing (default 2)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--consume-json', help='train_speed.json of `training speed`: the rate to feed')
    parser.add_argument('--tiny', action='store_true', help='2 stand-ins, 1 and 2 workers, 4 batches of 4')
    parser.add_argument('--work-dir', help='where the stores are written (default: a temporary folder)')
    parser.add_argument('--out', default=os.path.join('results', 'loader'), help='folder for loader.md/.csv/.json')
    args = parser.parse_args(argv)
    for key, (tiny, full) in {'workers': ([1, 2], [2, 4]), 'count': (2, 8), 'batches': (4, 40)}.items():
        setattr(args, key, (tiny if args.tiny else full) if getattr(args, key) is None else getattr(args, key))
    args.batch = 4 if args.tiny else BATCH
    with parser.refusing():
        check_positive(args, 'count', 'batches', 'warmup')
        if min(args.workers) < 1:
            raise Refusal(f'--workers must be at least 1, got {min(args.workers)}.')
        if args.device == 'cuda' and not torch.cuda.is_available():
            raise Refusal('--device cuda: no CUDA device here.')
        try:
            return args, consumption(args.consume_json) if args.consume_json else None
        except (OSError, ValueError) as err:
            raise Refusal(f'--consume-json {args.consume_json}: {type(err).__name__}: {err}') from None


def loader(prog, argv):
    """The loader command: a row per store and worker count into OUT/loader.md/.csv/.json."""
    args, need = loader_args(prog, argv)
    os.makedirs(args.out, exist_ok=True)
    cores = os.cpu_count()
    rows = []
    with tempfile.TemporaryDirectory(dir=args.work_dir, prefix='igan_loader_') as tmp:
        start = time.perf_counter()
        stores = make_stores(os.path.join(tmp, 'DIV2K'), args.stores, args.count, cores)
        prepared = time.perf_counter() - start
        for name, store in stores.items():
            for workers in args.workers:
                rate, first = delivered(store, workers, args)
                rows.append({'store': name, 'workers': workers, 'patches_s': rate, 'first_batch_s': first,
                             'mib': store.mib})
                print(f'{name}, {workers} workers: {rate:.1f} patches/s (first batch after {first:.1f} s)', flush=True)
    base = {r['workers']: r['patches_s'] for r in rows if r['store'] == rows[0]['store']}
    for row in rows:
        row['of_first'] = row['patches_s'] / base[row['workers']]
        if need:
            row['of_fastest'] = row['patches_s'] / need.patches_s
            row['feeds'] = 'yes' if row['patches_s'] >= need.patches_s else 'no'
    notes = [f'{cores} CPU cores; {args.count} DIV2K-sized stand-ins -> 480-pixel sub-images (prepared in '
             f'{prepared:.0f} s); PairedImageDataset, x{SCALE}, HR patch {GT_SIZE}, batch {args.batch}, flips and '
             'rotations; ' + ('CUDAPrefetcher (prefetch_mode: cuda, pin_memory: true).' if args.device == 'cuda'
                              else 'no prefetcher (CPU).'),
             f'patches/s over {args.batches} batches after {args.warmup} (each waited for on the device); '
             f"x {rows[0]['store']} = patches/s / its patches/s at the same workers."]
    columns = [('store', 'store', None), ('workers', 'workers', None), ('patches_s', 'patches/s', '.1f'),
               ('of_first', f"x {rows[0]['store']}", '.2f'), ('mib', 'HR+LR size (MiB)', '.0f'),
               ('first_batch_s', 'first batch (s)', '.1f')]
    if need:
        notes.append(f'The fastest training step ({need.variant}) consumes {need.patches_s:.0f} patches/s. '
                     'x fastest = loader / fastest step.')
        columns += [('of_fastest', 'x fastest step', '.2f'), ('feeds', 'feeds it', None)]
    text = write_table(args.out, 'loader', columns, rows, notes)
    with open(os.path.join(args.out, 'loader.json'), 'w') as f:
        json.dump({'notes': notes, 'rows': rows, 'need': need._asdict() if need else None, 'cores': cores}, f, indent=1)
    print('\n' + text)
    return 0


def main(argv=None):
    return run_command('data', __doc__, {'prepare': prepare, 'loader': loader}, argv)


if __name__ == '__main__':
    sys.exit(main())
