"""The bicubic LR scales the data tools make unless told otherwise, and the check every list of scales passes."""
from .errors import PrepareError

# The scales of the released checkpoints and of options/train_IGAN_x{4,8}.yml and test_IGAN_x{4,8}.yml.
DEFAULT_SCALES = (4, 8)
# The scales the benchmark sets are published at.
BENCHMARK_SCALES = (2, 3, 4, 8)


def check_scales(scales):
    """`scales` as a tuple, refused unless they are distinct integers of 2 or more."""
    scales = tuple(scales)
    if not scales or len(set(scales)) != len(scales) or any(s < 2 for s in scales):
        raise PrepareError(f'scales must be distinct integers of 2 or more, got {list(scales)}')
    return scales
