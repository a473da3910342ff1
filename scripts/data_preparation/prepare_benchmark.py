"""Lay out a benchmark test set (Set5, Set14, B100, Urban100, Manga109 ...) with MATLAB-bicubic LR images.

    python scripts/data_preparation/prepare_benchmark.py --hr path/to/Set14/HR --out datasets/benchmark/Set14 \\
        --scales 2 3 4 8

writes OUT/HR/{stem}.png and OUT/LR_bicubic/X{s}/{stem}x{s}.png, the layout options/test_IGAN_x{4,8}.yml read.
Run it once per set.
"""
import argparse
import sys

from igan_basicsr.prepare.benchmark_sets import prepare_benchmark
from igan_basicsr.prepare.errors import PrepareError
from igan_basicsr.prepare.scales import BENCHMARK_SCALES


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hr', required=True, help="folder of the set's HR images")
    parser.add_argument('--out', required=True, help='the set\'s folder to write, e.g. datasets/benchmark/Set14')
    parser.add_argument('--scales', type=int, nargs='+', default=list(BENCHMARK_SCALES), help='default %(default)s')
    parser.add_argument('--overwrite', action='store_true', help='replace OUT if it exists')
    args = parser.parse_args(argv)
    try:
        prepare_benchmark(args.hr, args.out, args.scales, args.overwrite)
    except PrepareError as err:
        parser.exit(1, f'prepare_benchmark: error: {err}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
