"""mer_lib.attribution.ground_truth: the share by its definition, the random share by Monte Carlo, SynthME's moving regions by its action units."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mer_lib import attribution as at  # noqa: E402
from mer_lib.errors import UserInputError  # noqa: E402


def test_inside_share_counts_the_positive_mass_only():
    maps = np.array([[[1.0, -5.0], [3.0, 0.0]], [[-1.0, -2.0], [0.0, -3.0]]])
    mask = np.array([[[True, False], [False, False]]] * 2)
    share = at.inside_share(maps, mask)
    assert share[0] == pytest.approx(0.25)
    assert np.isnan(share[1])
    assert at.inside_share(maps[0], mask[0])[0] == pytest.approx(0.25)
    with pytest.raises(UserInputError, match="boolean mask"):
        at.inside_share(maps, mask.astype(int))


def test_the_random_share_is_the_regions_area_by_monte_carlo():
    rng = np.random.default_rng(15)
    mask = rng.random((3, 16, 16)) < np.array([0.05, 0.2, 0.6])[:, None, None]
    draws = np.stack([at.inside_share(rng.random((3, 16, 16)), mask) for _ in range(4000)])
    np.testing.assert_allclose(draws.mean(axis=0), at.random_share(mask), atol=4e-3)
    # blocks of 4 x 4 equal pixels: not independent, but every pixel still has the same expected share
    smooth = np.stack([at.inside_share(np.repeat(np.repeat(rng.random((3, 4, 4)), 4, 1), 4, 2), mask)
                       for _ in range(4000)])
    assert np.abs(smooth.mean(axis=0) - at.random_share(mask)).max() < 0.03


def test_true_displacement_and_the_moving_region_follow_synthmes_action_units():
    from mer_lib.data import synthetic_dataset

    data = synthetic_dataset(seed=1, counts=(1, 1, 1), n_subjects=2, size=64, blinks=False, head_motion=False,
                             noise=0.0, flicker=False)
    disp = at.true_displacement(data, size=32)
    assert disp.shape == (3, 32, 32)
    region = at.moving_region(disp, threshold=0.05)
    rows = np.nonzero(region.any(axis=2))
    # surprise raises the brows and drops the jaw; positive pulls the mouth corners: its region is low on the face
    positive = int(np.flatnonzero(data.labels == 1)[0])
    assert region[positive, :12].sum() == 0 and region[positive, 16:].sum() > 0
    assert rows[0].size > 0
    with pytest.raises(UserInputError, match="threshold"):
        at.moving_region(disp, 0)
    # one ground truth in the library: chapter 14's name reads chapter 13's function, apex included
    from mer_lib.apex import true_motion

    np.testing.assert_array_equal(disp, true_motion(data, size=32))
    earlier = np.maximum(data.apex - 1, 1)
    np.testing.assert_array_equal(at.true_displacement(data, size=16, apex=earlier),
                                  true_motion(data, apex=earlier, size=16))
    assert at.true_displacement(data).shape == (3, 64, 64)      # its own default size, the two-stream network's


def test_share_summary_per_class_with_intervals_over_clips():
    rng = np.random.default_rng(16)
    labels = np.repeat([0, 1, 2], [10, 12, 5])
    shares = np.clip(0.3 + 0.2 * labels + rng.normal(0, 0.05, len(labels)), 0, 1)
    shares[3] = np.nan
    base = np.full(len(labels), 0.1)
    rows = at.share_summary(shares, labels, ["a", "b", "c"], baseline=base)
    assert [r["class"] for r in rows] == ["a", "b", "c", "all"]
    assert rows[0]["clips"] == 9 and rows[0]["no_share"] == 1
    for r in rows:
        assert r["ci_low"] <= r["mean"] <= r["ci_high"]
        assert r["difference"] == pytest.approx(r["mean"] - 0.1)
    assert rows[2]["mean"] == pytest.approx(np.mean(shares[labels == 2]))
    with pytest.raises(UserInputError, match="baseline"):
        at.share_summary(shares, labels, ["a", "b", "c"], baseline=base[:3])
