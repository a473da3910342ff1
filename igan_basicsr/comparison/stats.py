"""Whether a gap between two models is real: paired per-image differences over the same test images, with a
percentile-bootstrap confidence interval of their mean, and the spread of the gap over training seeds.

The interval says how much the mean difference would move with another draw of test images like these; the
seeds' spread says how much it moves with another training run. A gap is called real here only when neither
explains it: the interval excludes zero and every seed's gap has the same sign.
"""
import statistics
from typing import NamedTuple

import numpy as np

RESAMPLES = 10000
SEED = 0
LEVEL = 0.95
HIGHER, LOWER, UNRESOLVED = 'higher', 'lower', 'no clear difference'


class PairedDifference(NamedTuple):
    """Mean over images of (model - reference), the bounds of its bootstrap interval, and the images paired."""
    mean: float
    low: float
    high: float
    images: int


def paired_difference(values, reference, resamples=RESAMPLES, seed=SEED, level=LEVEL):
    """The mean of `values` - `reference` (one value per image, the same images in the same order) and its
    `level` percentile-bootstrap interval: `resamples` draws of the images with replacement (numpy's default
    generator seeded with `seed`, so the interval is the same every time), the interval's bounds the
    (1 - level) / 2 and (1 + level) / 2 quantiles of the draws' means."""
    diffs = np.asarray(values, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    if diffs.ndim != 1 or not diffs.size:
        raise ValueError(f'paired values must be two lists of the same, non-zero length, got {np.shape(values)} '
                         f'and {np.shape(reference)}')
    draws = np.random.default_rng(seed).integers(0, diffs.size, size=(resamples, diffs.size))
    low, high = np.quantile(diffs[draws].mean(axis=1), [(1 - level) / 2, (1 + level) / 2])
    return PairedDifference(float(diffs.mean()), float(low), float(high), int(diffs.size))


def seed_spread(per_seed_gaps):
    """Standard deviation over seeds of a model's gap to the reference (None for one seed)."""
    return statistics.stdev(per_seed_gaps) if len(per_seed_gaps) > 1 else None


def verdict(difference, per_seed_gaps=()):
    """HIGHER or LOWER where the interval of `difference` excludes zero and each seed's gap (`per_seed_gaps`)
    lies on the same side; UNRESOLVED otherwise."""
    for side, holds in ((HIGHER, lambda v: v > 0), (LOWER, lambda v: v < 0)):
        if holds(difference.low) and holds(difference.high) and all(holds(g) for g in per_seed_gaps):
            return side
    return UNRESOLVED


def mean_per_image(per_seed):
    """{image: mean over seeds} of `per_seed`, a list of {image: value} over the same images."""
    images = list(per_seed[0])
    for values in per_seed[1:]:
        if set(values) != set(images):
            raise ValueError(f'the seeds were scored on different images: {sorted(set(values) ^ set(images))[:3]}')
    return {image: statistics.fmean(values[image] for values in per_seed) for image in images}
