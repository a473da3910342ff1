"""igan_basicsr.comparison.stats: the paired per-image difference, its bootstrap interval, and when a gap is real."""
import numpy as np
import pytest

from igan_basicsr.comparison import stats


def test_the_bootstrap_interval_of_a_tiny_example_is_the_one_worked_out_by_hand():
    # Differences 1, 2, 3: a draw of three images averages 1 only when it draws the first image three times,
    # (1/3)^3 = 3.7% of draws, more than the 2.5% below the interval: its low end is exactly 1, its high end 3.
    diff = stats.paired_difference([31, 32, 33], [30, 30, 30])
    assert diff == stats.PairedDifference(mean=2.0, low=1.0, high=3.0, images=3)
    # -1 and +1: a quarter of the draws average -1, a quarter +1; the interval spans both and holds zero.
    assert stats.paired_difference([29, 31], [30, 30]) == stats.PairedDifference(0.0, -1.0, 1.0, 2)
    # The same gap on every image: no draw can move it.
    assert stats.paired_difference([30.5] * 4, [30] * 4) == stats.PairedDifference(0.5, 0.5, 0.5, 4)


def test_the_bootstrap_interval_is_the_quantiles_of_ten_thousand_seeded_draws():
    values, reference = [30.1, 29.7, 31.2, 30.4, 28.9], [30.0, 29.9, 30.8, 30.5, 28.6]
    diffs = [v - r for v, r in zip(values, reference)]
    draws = np.random.default_rng(0).integers(0, 5, size=(10000, 5))
    means = sorted(sum(diffs[i] for i in row) / 5 for row in draws)

    def quantile(q):  # linear between the two draws around position q * (n - 1)
        pos = q * (len(means) - 1)
        below = int(pos)
        return means[below] + (pos - below) * (means[below + 1] - means[below])

    diff = stats.paired_difference(values, reference)
    assert diff.mean == pytest.approx(sum(diffs) / 5, abs=1e-12)
    assert (diff.low, diff.high) == pytest.approx((quantile(0.025), quantile(0.975)), abs=1e-12)
    assert stats.paired_difference(values, reference) == diff  # fixed seed: the same interval every time


def test_a_gap_is_called_real_only_when_the_interval_and_every_seed_agree():
    higher = stats.PairedDifference(0.1, 0.02, 0.2, 100)
    assert stats.verdict(higher) == 'higher'
    assert stats.verdict(higher, [0.08, 0.12]) == 'higher'
    assert stats.verdict(higher, [0.2, -0.01]) == 'no clear difference'
    assert stats.verdict(stats.PairedDifference(-0.1, -0.2, -0.03, 100), [-0.1]) == 'lower'
    assert stats.verdict(stats.PairedDifference(0.01, -0.02, 0.04, 100), [0.01, 0.02]) == 'no clear difference'
    # An interval that ends at zero does not exclude it.
    assert stats.verdict(stats.PairedDifference(0.1, 0.0, 0.2, 100), [0.1]) == 'no clear difference'
    assert stats.seed_spread([0.1]) is None
    assert stats.seed_spread([0.1, 0.3]) == pytest.approx(0.2 / 2 ** 0.5)


def test_per_image_values_are_averaged_over_seeds_and_must_cover_the_same_images():
    assert stats.mean_per_image([{'a': 30.0, 'b': 28.0}, {'b': 29.0, 'a': 31.0}]) == {'a': 30.5, 'b': 28.5}
    with pytest.raises(ValueError, match=r"the seeds were scored on different images: \['b', 'c'\]"):
        stats.mean_per_image([{'a': 1.0, 'b': 2.0}, {'a': 1.0, 'c': 2.0}])
    with pytest.raises(ValueError, match='paired values must be two lists of the same, non-zero length'):
        stats.paired_difference([], [])
