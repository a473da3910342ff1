"""Photographs bundled with scikit-image (no download): the demo's data and the speed benchmarks' material."""
import cv2
import numpy as np

# Size of a typical DIV2K training photograph (height, width); most are 2040 pixels wide.
DIV2K_SIZE = (1352, 2040)
# Colour photographs, the raw material of DIV2K-sized stand-ins.
COLOUR_PHOTOS = ('astronaut', 'chelsea', 'coffee', 'rocket', 'hubble_deep_field', 'immunohistochemistry', 'retina')
# Camera grain (standard deviation in grey levels): enlarged photographs alone are smoother, and compress
# better as PNG, than real ones.
GRAIN = 2.0


def photo(name):
    """scikit-image's photograph `name` as uint8 HxWx3 BGR (grey ones repeated into 3 channels)."""
    import skimage.data
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR)


def _cover(img, height, width):
    """`img` enlarged to cover height x width, then centre-cropped to it."""
    factor = max(height / img.shape[0], width / img.shape[1])
    img = cv2.resize(img, (max(width, round(img.shape[1] * factor)), max(height, round(img.shape[0] * factor))),
                     interpolation=cv2.INTER_CUBIC)
    top, left = (img.shape[0] - height) // 2, (img.shape[1] - width) // 2
    return img[top:top + height, left:left + width]


def div2k_like(index, size=DIV2K_SIZE):
    """A DIV2K-sized stand-in photograph, different for each `index`: four photographs as 2x2 tiles, with grain."""
    height, width = size
    tiles = [_cover(photo(COLOUR_PHOTOS[(index + k) % len(COLOUR_PHOTOS)]), height // 2, width // 2)
             for k in range(4)]
    tiles = [tile[:, ::-1] if (index >> k) & 1 else tile for k, tile in enumerate(tiles)]
    img = np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0)
    grain = np.random.default_rng(index).normal(0, GRAIN, img.shape)
    return np.clip(img + grain, 0, 255).round().astype(np.uint8)
