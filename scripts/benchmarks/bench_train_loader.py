"""Training patches per second that basicsr's LMDB loader delivers, against what the fastest training step eats.

    python -m scripts.benchmarks.bench_train_loader --consume-json results/train_speed/train_speed.json
    python -m scripts.benchmarks.bench_train_loader --tiny --device cpu          # small, on CPU

DIV2K-sized stand-in photographs (scikit-image's, enlarged, with grain) are prepared by prepare_div2k_lmdb
as a PNG and a BMP LMDB of 480-pixel sub-images, then read by PairedImageDataset with the training options of
options/train_IGAN_x4.yml (HR patch 192, batch 16, flips and rotations) through basicsr's build_dataloader with
4, 8 and 16 workers and, on CUDA, its CUDAPrefetcher (prefetch_mode: cuda, pin_memory: true), each batch
waited for on the device. The rate is taken over the last two thirds of --batches, after the workers have
started and the batches they had queued are drained. --consume-json names a train_speed.json (bench_train_speed):
its fastest step's patches/s is what the loader must deliver.
"""
import json
import os
import sys
import tempfile
import time
from typing import NamedTuple

import torch
from basicsr.data import build_dataloader, build_dataset
from basicsr.data.data_sampler import EnlargedSampler
from basicsr.data.prefetch_dataloader import CUDAPrefetcher

from igan_basicsr.comparison.report import write_table
from igan_basicsr.prepare.div2k_lmdb import HR_FOLDER, hr_lmdb_name, lr_lmdb_name, prepare_div2k_lmdb
from scripts.benchmarks.loader_speed import BATCH, GT_SIZE, SCALE
from scripts.benchmarks.prepare_speed import write_stand_ins
from scripts.benchmarks.train_switches import OneLineParser

WORKERS = (4, 8, 16)
ENCODINGS = ('png', 'bmp')


def make_lmdbs(root, count, encodings, workers):
    """{encoding: (HR lmdb, LR lmdb)} of `count` stand-ins written under root."""
    write_stand_ins(os.path.join(root, HR_FOLDER), count)
    found = {}
    for encoding in encodings:
        out = os.path.join(root, f'lmdb_{encoding}')
        prepare_div2k_lmdb(root, (SCALE,), out=out, encoding=encoding, workers=workers)
        found[encoding] = (os.path.join(out, hr_lmdb_name()), os.path.join(out, lr_lmdb_name(SCALE)))
    return found


def delivered(gt, lq, workers, batches, device, batch=BATCH, gt_size=GT_SIZE):
    """(patches/s over the last two thirds of `batches`, seconds to the first batch) through basicsr's loader."""
    cuda = device == 'cuda'
    opt = {'name': 'speed', 'type': 'PairedImageDataset', 'phase': 'train', 'scale': SCALE,
           'dataroot_gt': gt, 'dataroot_lq': lq, 'io_backend': {'type': 'lmdb'}, 'filename_tmpl': '{}',
           'gt_size': gt_size, 'use_hflip': True, 'use_rot': True, 'num_worker_per_gpu': workers,
           'batch_size_per_gpu': batch, 'pin_memory': cuda, 'prefetch_mode': 'cuda' if cuda else None}
    dataset = build_dataset(opt)
    ratio = -(-(batches + 1) * batch // len(dataset))
    loader = build_dataloader(dataset, opt, num_gpu=1 if cuda else 0, dist=False,
                              sampler=EnlargedSampler(dataset, 1, 0, ratio), seed=0)
    start = time.perf_counter()
    if cuda:
        prefetcher = CUDAPrefetcher(loader, {'num_gpu': 1})
        take = prefetcher.next
    else:
        batch_iter = iter(loader)
        take = lambda: next(batch_iter)  # noqa: E731
    stamps = []
    for _ in range(batches):
        data = take()
        if cuda:
            torch.cuda.synchronize()
        assert data['gt'].shape == (batch, 3, gt_size, gt_size)
        stamps.append(time.perf_counter())
    first = len(stamps) // 3
    rate = (len(stamps) - 1 - first) * batch / (stamps[-1] - stamps[first])
    del loader
    return rate, stamps[0] - start


class Need(NamedTuple):
    """What a speed run's steps consume: the fastest base-batch step and the row of most patches/s."""
    patches_s: float
    variant: str
    max_patches_s: float
    max_patches_s_variant: str


def consumption(path):
    """The Need of a train_speed.json, or None when it names no fastest step."""
    with open(path) as f:
        best = json.load(f).get('best') or {}
    if 'patches_s' not in best:
        return None
    return Need(best['patches_s'], best['variant'], best.get('max_patches_s'), best.get('max_patches_s_variant'))


def checked_args(argv):
    """(arguments with the defaults filled in, consumption() of --consume-json); one line and exit 2 otherwise."""
    parser = OneLineParser(prog='bench_train_loader', description=__doc__.splitlines()[0])
    parser.add_argument('--workers', type=int, nargs='+', help='loader worker counts (default 4 8 16; tiny 1 2)')
    parser.add_argument('--encodings', nargs='+', choices=ENCODINGS, default=list(ENCODINGS))
    parser.add_argument('--count', type=int, help='stand-in photographs (default 8; tiny 2)')
    parser.add_argument('--batches', type=int, help='batches read per case (default 150; tiny 6)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--consume-json', help='train_speed.json of bench_train_speed: the rate to feed')
    parser.add_argument('--tiny', action='store_true', help='2 stand-ins, 1 and 2 workers, 6 batches of 4')
    parser.add_argument('--work-dir', help='where the LMDBs are written (default: a temporary folder)')
    parser.add_argument('--out', default=os.path.join('results', 'train_loader'),
                        help='folder for train_loader.md/.csv/.json')
    args = parser.parse_args(argv)
    args.workers = args.workers or ([1, 2] if args.tiny else list(WORKERS))
    args.count = args.count or (2 if args.tiny else 8)
    args.batches = args.batches or (6 if args.tiny else 150)
    args.batch = 4 if args.tiny else BATCH
    if min(args.workers) < 1 or args.batches < 3:
        parser.error('--workers must be positive and --batches at least 3.')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device here.')
    need = None
    if args.consume_json:
        try:
            need = consumption(args.consume_json)
        except (OSError, ValueError) as err:
            parser.error(f'--consume-json {args.consume_json}: {type(err).__name__}: {err}')
    return args, need


def measure(lmdbs, args, need):
    """A row per LMDB and worker count: patches/s, seconds to the first batch, size, and against `need`."""
    rows = []
    for encoding, (gt, lq) in lmdbs.items():
        size = sum(os.path.getsize(os.path.join(p, 'data.mdb')) for p in (gt, lq)) / 2**20
        for workers in args.workers:
            rate, first = delivered(gt, lq, workers, args.batches, args.device, args.batch)
            row = {'encoding': encoding.upper(), 'workers': workers, 'patches_s': rate, 'first_batch_s': first,
                   'lmdb_mib': size}
            if need:
                row['of_fastest'] = rate / need.patches_s
                row['feeds'] = 'yes' if rate >= need.patches_s else 'no'
            print(f"{row['encoding']} LMDB, {workers} workers: {rate:.0f} patches/s "
                  f"(first batch after {first:.1f} s)", flush=True)
            rows.append(row)
    return rows


def main(argv=None):
    args, need = checked_args(argv)
    os.makedirs(args.out, exist_ok=True)
    cores = os.cpu_count()
    with tempfile.TemporaryDirectory(dir=args.work_dir, prefix='bench_train_loader_') as tmp:
        start = time.perf_counter()
        lmdbs = make_lmdbs(os.path.join(tmp, 'DIV2K'), args.count, args.encodings, cores)
        prepared = time.perf_counter() - start
        rows = measure(lmdbs, args, need)
    notes = [f"{cores} CPU cores; {args.count} DIV2K-sized stand-ins -> 480-pixel sub-images (prepared in "
             f"{prepared:.0f} s); PairedImageDataset, HR patch {GT_SIZE}, batch {args.batch}, flips and rotations; "
             + ('CUDAPrefetcher (prefetch_mode: cuda, pin_memory: true).' if args.device == 'cuda'
                else 'no prefetcher (CPU).'),
             f'patches/s over the last two thirds of {args.batches} batches (each waited for on the device).']
    columns = [('encoding', 'LMDB', None), ('workers', 'workers', None), ('patches_s', 'patches/s', '.0f'),
               ('lmdb_mib', 'HR+LR size (MiB)', '.0f'), ('first_batch_s', 'first batch (s)', '.1f')]
    if need:
        notes.append(f'The fastest training step ({need.variant}) consumes {need.patches_s:.0f} patches/s'
                     + (f'; the most patches/s of any timed row ({need.max_patches_s_variant}) is '
                        f'{need.max_patches_s:.0f}' if need.max_patches_s else '')
                     + '. x fastest = loader / fastest step.')
        columns += [('of_fastest', 'x fastest step', '.2f'), ('feeds', 'feeds it', None)]
    text = write_table(args.out, 'train_loader', columns, rows, notes)
    with open(os.path.join(args.out, 'train_loader.json'), 'w') as f:
        json.dump({'notes': notes, 'rows': rows, 'need': need._asdict() if need else None, 'cores': cores}, f, indent=1)
    print('\n' + text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
