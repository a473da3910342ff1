"""Reading and writing images as people have them: 8- and 16-bit PNG/TIFF, JPEG (EXIF orientation applied),
BMP and WebP; grey images stay grey and an alpha channel is kept apart from the colour the network sees."""
import os
import re
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..atomic import replacing

# What `basicsr infer` writes: the encoder is chosen by the extension, as OpenCV does.
OUTPUT_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp', '.bmp')
# Formats that hold 16 bits per channel; a 16-bit image written to another one is reduced to 8 bits.
SIXTEEN_BIT = ('.png', '.tif', '.tiff')
# Formats without an alpha channel: an image with one is refused rather than silently flattened.
NO_ALPHA = ('.jpg', '.jpeg')
JPEG_QUALITY = 95
# WebP quality above 100 selects OpenCV's lossless encoder: an upscaled image is not recompressed lossily.
WEBP_LOSSLESS = 101
PNG_LEVEL = 3
# The most pixels an input may have: PIL's decompression-bomb limit (twice its MAX_IMAGE_PIXELS), below OpenCV's
# CV_IO_MAX_IMAGE_PIXELS. Its x4 output alone would take 34 GB in float32.
MAX_PIXELS = min(2 * Image.MAX_IMAGE_PIXELS, int(os.environ.get('CV_IO_MAX_IMAGE_PIXELS', 1 << 30)))
# PIL's EXIF orientation (tag 0x0112) -> the numpy operation that makes the stored pixels upright.
ORIENTATION_TAG = 0x0112
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: np.rot90(a, 2),
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


class NotAnImage(Exception):
    """A file that is skipped, with the short reason the summary line gives in brackets."""


@dataclass
class Picture:
    """An image ready for the network, and what is needed to write its upscaled version the same way.

    color: HxWxC float32 in [0, 1], RGB (C = 3) or grey (C = 1).
    alpha: HxW float32 in [0, 1], or None.
    depth: bits per channel of the file, 8 or 16; the output is written with the same.
    """
    color: np.ndarray
    alpha: np.ndarray | None
    depth: int

    @property
    def gray(self):
        return self.color.shape[2] == 1

    @property
    def size(self):
        return self.color.shape[:2]


class Header(NamedTuple):
    """What PIL reads off a file without decoding it."""
    mode: str
    orientation: int
    width: int
    height: int


def too_large(pixels, size=''):
    """The skip reason of an image of `pixels` pixels (WxH `size` where known) beyond what the decoders take."""
    return (f'{size + " = " if size else ""}{pixels / 1e6:.4g} megapixels, above the limit of '
            f'{MAX_PIXELS / 1e6:.4g} megapixels of the image decoders')


def _header(path):
    """The file's Header, or None when PIL does not know the file; NotAnImage for one larger than MAX_PIXELS."""
    try:
        with warnings.catch_warnings():
            # PIL warns from half its decompression-bomb limit on; the limit itself is enforced here.
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as err:
        claimed = re.search(r'\((\d+) pixels\)', str(err))
        raise NotAnImage(too_large(int(claimed[1]) if claimed else MAX_PIXELS + 1)) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    with img:
        try:
            orientation = img.getexif().get(ORIENTATION_TAG, 1)
        except Exception:  # PIL raises many types for a damaged EXIF block; the pixels may still be fine
            orientation = 1
        return Header(img.mode, orientation, *img.size)


def _decode(path):
    header = _header(path)
    if header and header.width * header.height > MAX_PIXELS:
        raise NotAnImage(too_large(header.width * header.height, f'{header.width}x{header.height}'))
    # imdecode of the bytes, not imread: imread cannot open non-ASCII paths on Windows.
    data = np.fromfile(path, np.uint8)
    try:
        pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error:  # OpenCV's own size limits, where PIL did not know the format
        pixels = None
    if pixels is None:
        raise NotAnImage('not an image' if header is None else 'damaged or unsupported image')
    return pixels, header


def read_picture(path):
    """The image at `path` as a Picture; raises NotAnImage with a short reason for what cannot be used."""
    pixels, header = _decode(path)
    if pixels.dtype not in (np.uint8, np.uint16):
        raise NotAnImage(f'{pixels.dtype} pixels; 8- or 16-bit images only')
    mode, orientation = (header.mode, header.orientation) if header else ('', 1)
    if orientation in _UPRIGHT:
        pixels = _UPRIGHT[orientation](pixels)
    depth = 16 if pixels.dtype == np.uint16 else 8
    pixels = pixels.astype(np.float32) / (2**depth - 1)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    alpha = None
    if pixels.shape[2] in (2, 4):
        pixels, alpha = pixels[..., :-1], np.ascontiguousarray(pixels[..., -1])
    if pixels.shape[2] == 3:
        # OpenCV decodes grey-with-alpha PNGs as BGRA with three equal channels: keep one.
        pixels = pixels[..., :1] if mode in ('LA', 'La') else pixels[..., ::-1]
    return Picture(np.ascontiguousarray(pixels), alpha, depth)


def output_depth(picture, ext):
    return picture.depth if ext in SIXTEEN_BIT else 8


def refusal(picture, ext):
    """Why `picture` cannot be written as `ext`, or None."""
    if picture.alpha is not None and ext in NO_ALPHA:
        return f'has transparency, which {ext[1:].upper()} cannot store: use --ext png'
    return None


def _quantise(values, depth):
    top = 2**depth - 1
    return np.clip(np.rint(values * top), 0, top).astype(np.uint16 if depth == 16 else np.uint8)


def encode(picture, ext):
    """The bytes of `picture` in the format of extension `ext` (with the dot, lower case)."""
    depth = output_depth(picture, ext)
    color = picture.color if picture.gray else picture.color[..., ::-1]
    if picture.alpha is not None:
        # OpenCV writes no two-channel (grey + alpha) files: grey with alpha is written as BGRA, channels equal.
        color = np.concatenate([np.repeat(color, 3, axis=2) if picture.gray else color,
                                picture.alpha[..., None]], axis=2)
    params = {'.png': [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL], '.webp': [cv2.IMWRITE_WEBP_QUALITY, WEBP_LOSSLESS],
              '.jpg': [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY], '.jpeg': [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]}
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(_quantise(color, depth)), params.get(ext, []))
    if not ok:
        raise OSError(f'OpenCV could not encode a {color.shape} image as {ext}')
    return buf.tobytes()


def write_picture(path, picture):
    """Write `picture` to `path` (format from its extension) whole or not at all."""
    data = encode(picture, os.path.splitext(path)[1].lower())
    with replacing(path) as partial:
        with open(partial, 'wb') as f:
            f.write(data)
