"""Training patches per second through BasicSR's loader from PNG folders, a PNG LMDB and a BMP LMDB, in one run.

    python -m scripts.benchmarks.bench_loader                 # 8 DIV2K-sized stand-ins, 40 timed batches per case

Prints patches/s for 2 and 4 loader workers and each store's ratio to the PNG folders.
"""
import argparse
import sys

from scripts.benchmarks.loader_speed import STAND_INS, WORKER_COUNTS, compare


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=STAND_INS, help='stand-in photographs (default %(default)s)')
    parser.add_argument('--batches', type=int, default=40, help='timed batches per case (default %(default)s)')
    parser.add_argument('--workers', type=int, nargs='+', default=list(WORKER_COUNTS),
                        help='loader worker counts (default %(default)s)')
    parser.add_argument('--work-dir', help='where the temporary folders go (default: the system temp folder)')
    args = parser.parse_args(argv)
    compare(args.count, args.batches, args.workers, args.work_dir)
    return 0


if __name__ == '__main__':
    sys.exit(main())
