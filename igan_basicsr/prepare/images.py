"""Finding, checking, reading and encoding the 8-bit photographs the data tools take in and write out."""
import os

import cv2
import numpy as np

from .errors import PrepareError

IMAGE_EXTENSIONS = ('.png', '.bmp', '.jpg', '.jpeg', '.tif', '.tiff', '.webp')
# PNG files we write as files: OpenCV's default level, the one BasicSR's crop step writes its sub-images with.
FILE_PNG_LEVEL = 3
# PNG inside an LMDB: BasicSR's make_lmdb_from_imgs level, so our LMDBs hold what its two-step path writes.
LMDB_PNG_LEVEL = 1
# What an LMDB value may be encoded as, with the compression field its meta_info.txt lines carry.
ENCODINGS = {'png': LMDB_PNG_LEVEL, 'bmp': 0}


def list_images(folder):
    """Sorted paths of the images directly in `folder`; their stems (file names less extension) are unique."""
    if not os.path.isdir(folder):
        raise PrepareError(f'image folder not found: {folder}')
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise PrepareError(f'no images ({", ".join(IMAGE_EXTENSIONS)}) in {folder}')
    seen = {}
    for path in paths:
        stem = image_stem(path)
        if stem in seen:
            raise PrepareError(f'{seen[stem]} and {path} have the same name {stem!r}: keep one of them')
        seen[stem] = path
    return paths


def image_stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def probe(path):
    """(height, width) from the file header alone, refusing what `read_image` would refuse where the header tells.

    Reading only headers lets a whole folder be checked in seconds, before hours of work depend on it.
    """
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            width, height = img.size
            mode = img.mode
    except (UnidentifiedImageError, OSError) as err:
        raise PrepareError(f'cannot read image {path}: {err}') from None
    if mode not in ('RGB', 'L', 'P', 'RGBA', 'LA', 'PA', '1'):
        raise PrepareError(f'{path} is a {mode} image: 8-bit grey or colour images only (convert it to 8-bit RGB)')
    return height, width


def read_image(path):
    """The image at `path` as uint8 HxWx3 BGR (grey is repeated into 3 channels, an all-opaque alpha dropped)."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise PrepareError(f'cannot decode image {path}: the file is damaged or not an image; replace it')
    if img.dtype != np.uint8:
        raise PrepareError(f'{path} has {img.dtype} pixels: 8-bit images only (convert it to 8-bit RGB)')
    if img.ndim == 2:
        img = img[..., None]
    channels = img.shape[2]
    if channels in (2, 4):
        if (img[..., -1] != 255).any():
            raise PrepareError(f'{path} has transparent pixels: flatten it onto a background and save it without alpha')
        img = img[..., :-1]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return img


def encode(img, encoding):
    """`img` encoded as an 'png' (at LMDB_PNG_LEVEL) or 'bmp' file's bytes."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, ENCODINGS['png']] if encoding == 'png' else []
    ok, buf = cv2.imencode(f'.{encoding}', np.ascontiguousarray(img), params)
    if not ok:
        raise PrepareError(f'OpenCV could not encode a {img.shape} image as {encoding}')
    return buf.tobytes()


def write_png(path, img):
    if not cv2.imwrite(path, img, [cv2.IMWRITE_PNG_COMPRESSION, FILE_PNG_LEVEL]):
        raise OSError(f'could not write {path}')
