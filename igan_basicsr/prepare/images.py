"""Finding, checking, reading and encoding the 8-bit photographs the data tools take in and write out."""
import atexit
import contextlib
import os
import re
import tempfile

import cv2
import numpy as np

from .errors import PrepareError

IMAGE_EXTENSIONS = ('.png', '.bmp', '.jpg', '.jpeg', '.tif', '.tiff', '.webp')
# PNG files we write as files: OpenCV's default level, the one BasicSR's crop step writes its sub-images with.
FILE_PNG_LEVEL = 3
# PNG inside an LMDB: BasicSR's make_lmdb_from_imgs level, so our LMDBs hold what its two-step path writes.
LMDB_PNG_LEVEL = 1
# Who is speaking in a decoder's message, as libpng or OpenCV's log print it: `libpng error: ` or
# `[ WARN:0@4.9] global grfmt_png.cpp:793 readFromStreamOrBuffer ` (which of them speaks varies from run to run).
DECODER_PREFIX = re.compile(r'^(libpng (error|warning): |\[\s*[A-Z]+:[^\]]*\]\s*(global\s+)?\S+:\d+\s+\S+\s+)')
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


def is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def folder_files(folder):
    """Names of the files basicsr's scandir lists in `folder` (every file whose name does not start with a dot)."""
    return sorted(e.name for e in os.scandir(folder) if not e.name.startswith('.') and e.is_file())


def paired_images(gt_folder, lq_folder, filename_tmpl='{}'):
    """([(HR path, LR path)], [paths left out]) as basicsr's paired_paths_from_folder pairs a folder's files: HR
    <stem><ext> with LR <filename_tmpl.format(stem)><ext>. Files that are not images and LR images without an HR one
    are left out (basicsr would stop on them); an HR image without its LR one is a PrepareError."""
    gt_names = folder_files(gt_folder)
    lq_names = set(folder_files(lq_folder))
    pairs = []
    for name in filter(is_image, gt_names):
        stem, ext = os.path.splitext(name)
        pairs.append((name, f'{filename_tmpl.format(stem)}{ext}'))
    missing = [name for name, lq_name in pairs if lq_name not in lq_names]
    if missing:
        raise PrepareError(f'{lq_folder}: no LR image for {", ".join(missing[:5])} (expected '
                           f'{filename_tmpl.format("<stem>")}<ext> beside each HR <stem><ext>).')
    left_out = [os.path.join(gt_folder, n) for n in gt_names if not is_image(n)]
    left_out += [os.path.join(lq_folder, n) for n in sorted(lq_names - {lq for _, lq in pairs})]
    return [(os.path.join(gt_folder, g), os.path.join(lq_folder, q)) for g, q in pairs], left_out


def pair_list_file(pairs):
    """A meta_info_file for basicsr's PairedImageDataset (disk backend) naming just these pairs' HR files, so that
    it reads them and nothing else in the folders; removed when this process exits."""
    fd, path = tempfile.mkstemp(prefix='igan_pairs_', suffix='.txt')
    with os.fdopen(fd, 'w') as f:
        f.writelines(f'{os.path.basename(hr)}\n' for hr, _ in pairs)
    atexit.register(lambda: os.path.exists(path) and os.remove(path))
    return path


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


@contextlib.contextmanager
def _c_library_messages():
    """What C libraries (libpng, libjpeg) write to file descriptor 2 meanwhile, collected instead of printed: a
    decoder's complaint about a damaged file belongs in the one error line that names the file."""
    saved = os.dup(2)
    said = []
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            said.extend(sink.read().decode(errors='replace').split('\n'))


def _decode(content):
    """(image, None) or (None, why) for encoded image bytes, decoded as basicsr decodes them (cv2.imdecode,
    colour)."""
    with _c_library_messages() as said:
        img = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR) if content else None
    if img is None:
        said = [DECODER_PREFIX.sub('', line.strip()) for line in said if line.strip()]
        return None, said[-1] if said else 'damaged, truncated or not an image'
    return img, None


def undecodable(content):
    """Why the encoded image `content` (bytes) does not decode as basicsr decodes it, or None."""
    return _decode(content)[1]


def decoded_size(path):
    """(height, width) of the image at `path` once decoded as basicsr decodes it: a file whose header is whole but
    whose pixels are not fails here, not halfway through a test."""
    with open(path, 'rb') as f:
        img, reason = _decode(f.read())
    if img is None:
        raise PrepareError(f'cannot read image {path}: it does not decode ({reason})')
    return img.shape[:2]


def scale_problem(hr, hr_size, lr, lr_size, scale):
    """Why the LR image `lr` is not the x`scale` bicubic of `hr` by its size (None if it can be): basicsr crops the
    HR image to the LR one times the scale, so the LR side must be the HR side // scale."""
    (hh, hw), (lh, lw) = hr_size, lr_size
    if (lh, lw) == (hh // scale, hw // scale):
        return None
    ratio = round(hh / lh) if lh else 0
    if ratio > 1 and (lh, lw) == (hh // ratio, hw // ratio):
        return f'{lr} ({lw}x{lh}) is x{ratio} data for {hr} ({hw}x{hh}), but scale is {scale}'
    return (f'{lr} is {lw}x{lh}, but its HR image {hr} ({hw}x{hh}) downscaled x{scale} is '
            f'{hw // scale}x{hh // scale}')


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
