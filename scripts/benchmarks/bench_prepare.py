"""Time BasicSR's two-step DIV2K-to-LMDB preparation against prepare_div2k_lmdb's one pass, in one process.

    python -m scripts.benchmarks.bench_prepare    # 16 DIV2K-sized stand-in photographs in a temp folder
    python -m scripts.benchmarks.bench_prepare datasets/DIV2K/DIV2K_train_HR --workers 8

Prints each route's time, the ratio and whether both wrote the same images.
"""
import argparse
import sys

from igan_basicsr.prepare.scales import DEFAULT_SCALES
from scripts.benchmarks.prepare_speed import STAND_INS, compare


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('hr', nargs='?', help='folder of HR photographs (default: stand-ins made from scikit-image '
                        'photographs)')
    parser.add_argument('--count', type=int,
                        help=f'stand-in photographs, when no HR folder is given (default {STAND_INS})')
    parser.add_argument('--scales', type=int, nargs='+', default=list(DEFAULT_SCALES), help='default %(default)s')
    parser.add_argument('--workers', type=int, help='processes for both routes (default: one per CPU core)')
    parser.add_argument('--work-dir', help='where the temporary folders go (default: the system temp folder)')
    args = parser.parse_args(argv)
    if args.hr and args.count is not None:
        parser.error('--count sets how many stand-in photographs to make, and with an HR folder none are made: '
                     'drop one of the two.')
    compare(args.hr, STAND_INS if args.count is None else args.count, args.scales, args.workers, args.work_dir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
