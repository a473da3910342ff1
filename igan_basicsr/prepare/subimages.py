"""The sub-image grid of BasicSR's DIV2K preparation: overlapping square crops, numbered row by row.

The positions and names are those of BasicSR's scripts/data_preparation/extract_subimages.py, so LMDBs written
from them have the keys (`0001_s001` ...) its option files and released meta_info files expect.
"""
from dataclasses import dataclass

CROP_SIZE = 480
STEP = 240
# A last, shifted crop is added where more than this many pixels would be left uncovered at the far edge.
THRESH_SIZE = 0


def starts(length, crop, step, thresh_size):
    """Start offsets along one side: every `step`, plus one flush with the end if the remainder exceeds thresh."""
    offsets = list(range(0, length - crop + 1, step))
    if not offsets:
        raise ValueError(f'a side of {length} pixels is shorter than the crop size {crop}')
    if length - (offsets[-1] + crop) > thresh_size:
        offsets.append(length - crop)
    return offsets


def subimage_key(stem, index):
    """LMDB key of the `index`-th (from 1) sub-image of image `stem`."""
    return f'{stem}_s{index:03d}'


@dataclass(frozen=True)
class Grid:
    crop: int = CROP_SIZE
    step: int = STEP
    thresh_size: int = THRESH_SIZE

    def positions(self, height, width):
        """(top, left) of every sub-image, left to right then top to bottom: list index + 1 is its number."""
        lefts = starts(width, self.crop, self.step, self.thresh_size)
        return [(top, left) for top in starts(height, self.crop, self.step, self.thresh_size) for left in lefts]
