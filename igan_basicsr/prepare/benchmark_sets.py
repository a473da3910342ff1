"""Benchmark test sets in the layout the test option files read, LR images made with MATLAB's bicubic.

    OUT/HR/{stem}.png                     the HR images as given (8-bit, 3 channels)
    OUT/LR_bicubic/X{s}/{stem}x{s}.png    bicubic of the HR cropped to a multiple of s

HR images are not cropped: BasicSR's PairedImageDataset crops each to LR size x scale when it tests, which
is the region the published LR images of Set5, Set14, B100, Urban100 and Manga109 were made from.
"""
import os

from tqdm import tqdm

from ..atomic import claim, discard, partial, publish
from .bicubic import bicubic_pair
from .errors import PrepareError
from .images import image_stem, list_images, probe, read_image, write_png
from .scales import BENCHMARK_SCALES, check_scales


def lr_folder(scale):
    return os.path.join('LR_bicubic', f'X{scale}')


def prepare_benchmark(hr_dir, out, scales=BENCHMARK_SCALES, overwrite=False):
    """Write OUT/HR and OUT/LR_bicubic/X{s} from the images in `hr_dir`; returns OUT."""
    scales = check_scales(scales)
    paths = list_images(hr_dir)
    for path in paths:
        if min(probe(path)) < max(scales):
            raise PrepareError(f'{path} is smaller than {max(scales)} pixels on a side: remove it')
    claim([out], overwrite, PrepareError)
    work = partial(out)
    try:
        for folder in ['HR'] + [lr_folder(s) for s in scales]:
            os.makedirs(os.path.join(work, folder))
        for path in tqdm(paths, unit='img', desc=os.path.basename(os.path.normpath(out))):
            stem, hr = image_stem(path), read_image(path)
            write_png(os.path.join(work, 'HR', f'{stem}.png'), hr)
            for scale in scales:
                write_png(os.path.join(work, lr_folder(scale), f'{stem}x{scale}.png'), bicubic_pair(hr, scale)[1])
    except BaseException:
        discard(out)
        raise
    publish(out)
    print(f'wrote {out}: {len(paths)} HR images, LR x{", x".join(map(str, scales))}', flush=True)
    return out
