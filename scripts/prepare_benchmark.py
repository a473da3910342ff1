"""Lay out a benchmark test set (Set5, Set14, B100, Urban100, Manga109 ...) with MATLAB-bicubic LR images.

    python scripts/prepare_benchmark.py path/to/Set14/HR --name Set14     # -> datasets/benchmark/Set14

writes OUT/NAME/HR/{stem}.png and OUT/NAME/LR_bicubic/X{s}/{stem}x{s}.png, the layout
options/test_IGAN_x{4,8}.yml read. Run it once per set.
"""
import argparse
import sys

from igan_basicsr.data.benchmark_sets import prepare_benchmark
from igan_basicsr.data.errors import PrepareError
from igan_basicsr.data.scales import DEFAULT_SCALES


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('hr_dir', help='folder of the set\'s HR images')
    parser.add_argument('--name', required=True, help='set name, the folder under OUT (e.g. Set5)')
    parser.add_argument('--out', default='datasets/benchmark', help='default %(default)s')
    parser.add_argument('--scales', type=int, nargs='+', default=list(DEFAULT_SCALES), help='default %(default)s')
    parser.add_argument('--overwrite', action='store_true', help='replace OUT/NAME if it exists')
    args = parser.parse_args(argv)
    try:
        prepare_benchmark(args.hr_dir, args.name, args.out, args.scales, args.overwrite)
    except PrepareError as err:
        parser.exit(1, f'prepare_benchmark: error: {err}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
