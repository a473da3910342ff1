"""Benchmark test sets in the layout the test option files read, LR images made with MATLAB's bicubic.

    OUT/NAME/HR/{stem}.png                     the HR images as given (8-bit, 3 channels)
    OUT/NAME/LR_bicubic/X{s}/{stem}x{s}.png    bicubic of the HR cropped to a multiple of s

HR images are not cropped: BasicSR's PairedImageDataset crops each to LR size x scale when it tests, which
is the region the published LR images of Set5, Set14, B100, Urban100 and Manga109 were made from.
"""
import os

from tqdm import tqdm

from .bicubic import bicubic_pair
from .errors import PrepareError
from .images import image_stem, list_images, probe, read_image, write_png
from .outputs import claim, discard, partial, publish
from .scales import DEFAULT_SCALES, check_scales


def lr_folder(scale):
    return os.path.join('LR_bicubic', f'X{scale}')


def prepare_benchmark(hr_dir, name, out='datasets/benchmark', scales=DEFAULT_SCALES, overwrite=False):
    """Write OUT/NAME with HR and LR_bicubic/X{s} from the images in `hr_dir`; returns OUT/NAME."""
    scales = check_scales(scales)
    paths = list_images(hr_dir)
    for path in paths:
        if min(probe(path)) < max(scales):
            raise PrepareError(f'{path} is smaller than {max(scales)} pixels on a side: remove it')
    target = os.path.join(out, name)
    claim([target], overwrite)
    work = partial(target)
    try:
        for folder in ['HR'] + [lr_folder(s) for s in scales]:
            os.makedirs(os.path.join(work, folder))
        for path in tqdm(paths, unit='img', desc=name):
            stem, hr = image_stem(path), read_image(path)
            write_png(os.path.join(work, 'HR', f'{stem}.png'), hr)
            for scale in scales:
                write_png(os.path.join(work, lr_folder(scale), f'{stem}x{scale}.png'), bicubic_pair(hr, scale)[1])
    except BaseException:
        discard(target)
        raise
    publish(target)
    print(f'wrote {target}: {len(paths)} HR images, LR x{", x".join(map(str, scales))}', flush=True)
    return target
