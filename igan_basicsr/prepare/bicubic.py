"""MATLAB-equivalent bicubic LR images, the degradation of every benchmark the field reports on."""
import numpy as np
from basicsr.data.transforms import mod_crop
from basicsr.utils.matlab_functions import imresize


def bicubic_pair(hr, scale):
    """(HR cropped to a multiple of `scale`, its MATLAB-bicubic LR), both uint8 HxWx3."""
    hr = mod_crop(hr, scale)
    lr = imresize(hr.astype(np.float32) / 255., 1 / scale)
    return hr, np.clip(np.round(lr * 255.), 0, 255).astype(np.uint8)


def bicubic_upscale(lr, scale):
    """MATLAB-bicubic upscaling of a uint8 image: the baseline SR results are compared against."""
    sr = imresize(lr.astype(np.float32) / 255., scale)
    return np.clip(np.round(sr * 255.), 0, 255).astype(np.uint8)
