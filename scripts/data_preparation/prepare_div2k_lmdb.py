"""Cut DIV2K's HR photographs into BasicSR's training LMDBs, HR and bicubic LR, in one pass.

    python scripts/data_preparation/prepare_div2k_lmdb.py --root datasets/DIV2K   # reads datasets/DIV2K/DIV2K_train_HR

writes datasets/DIV2K/DIV2K_train_HR_sub.lmdb and DIV2K_train_LR_bicubic_X{4,8}_sub.lmdb, the files
options/train_IGAN_x{4,8}.yml read. DIV2K's own LR images are used where present (DIV2K_train_LR_bicubic/X<s>);
the absent ones (DIV2K ships no X8) are made from the HR ones with MATLAB's bicubic, after cropping each
photograph to a multiple of every scale asked for.

    python scripts/data_preparation/prepare_div2k_lmdb.py --root datasets/DIV2K --scales 8

beside an existing DIV2K_train_HR_sub.lmdb (and no X8 one) writes the X8 LMDB only, once the HR LMDB is known to
hold the sub-images this run cuts (same keys and size, same pixels at each photograph's first and last place);
otherwise it says why it cannot, and --overwrite rebuilds every scale.
"""
import argparse
import sys

from igan_basicsr.prepare.div2k_lmdb import HR_FOLDER, prepare_div2k_lmdb
from igan_basicsr.prepare.errors import PrepareError
from igan_basicsr.prepare.images import ENCODINGS
from igan_basicsr.prepare.scales import DEFAULT_SCALES
from igan_basicsr.prepare.subimages import CROP_SIZE, STEP, THRESH_SIZE, Grid


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='datasets/DIV2K', help=f'folder holding {HR_FOLDER}/ (default %(default)s)')
    parser.add_argument('--out', help='where the LMDBs go (default: ROOT)')
    parser.add_argument('--scales', type=int, nargs='+', default=list(DEFAULT_SCALES),
                        help='LR scales, each one LMDB (default %(default)s)')
    parser.add_argument('--crop', type=int, default=CROP_SIZE, help='HR sub-image side (default %(default)s)')
    parser.add_argument('--step', type=int, default=STEP, help='HR sub-image stride (default %(default)s)')
    parser.add_argument('--thresh-size', type=int, default=THRESH_SIZE,
                        help='add a sub-image flush with the far edge when more than this is left over '
                        '(default %(default)s)')
    parser.add_argument('--codec', choices=list(ENCODINGS), default='png',
                        help='how sub-images are stored: png (smaller) or bmp (no decoding); default %(default)s')
    parser.add_argument('--workers', type=int, help='encoder processes (default: one per CPU core)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace LMDBs that already exist (without it, LR scales are added beside an existing HR '
                        'LMDB cut on the same grid)')
    args = parser.parse_args(argv)
    try:
        prepare_div2k_lmdb(args.root, args.scales, out=args.out, grid=Grid(args.crop, args.step, args.thresh_size),
                           encoding=args.codec, workers=args.workers, overwrite=args.overwrite)
    except PrepareError as err:
        parser.exit(1, f'prepare_div2k_lmdb: error: {err}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
