import numpy as np
import pytest
from scipy import ndimage

import mer_lib.flow as flow_package
from mer_lib.errors import UserInputError
from mer_lib.flow import angular_error, coarse_to_fine, endpoint_error, warp, warp_bicubic, warp_bilinear, zoom_pyramid
from mer_lib.flow.common import (as_grey_pair, divergence_backward, gradient_centered, gradient_forward, n_levels_for,
                                 pair_pyramids, zoom_in, zoom_out, zoom_size)

from .conftest import interior, texture


def test_interpolation_is_exact_on_grid_points_and_linear_functions():
    rng = np.random.default_rng(0)
    image = rng.random((9, 11))
    yy, xx = np.mgrid[0:9, 0:11].astype(float)
    np.testing.assert_allclose(warp_bilinear(image, xx, yy), image)
    np.testing.assert_allclose(warp_bicubic(image, xx, yy), image, atol=1e-12)
    ramp = 3 * xx - 2 * yy
    x, y = rng.uniform(2, 8, (5, 5)), rng.uniform(2, 6, (5, 5))
    np.testing.assert_allclose(warp_bilinear(ramp, x, y), 3 * x - 2 * y, atol=1e-12)
    np.testing.assert_allclose(warp_bicubic(ramp, x, y), 3 * x - 2 * y, atol=1e-12)


def test_warping_frame1_with_the_true_flow_gives_back_frame0():
    f0 = ndimage.gaussian_filter(texture(128), 1.0)   # band-limited, so interpolation is accurate
    f1 = ndimage.shift(f0, (-0.3, 0.4), order=3, mode="nearest")
    gt = np.zeros(f0.shape + (2,))
    gt[..., 0], gt[..., 1] = 0.4, -0.3
    back = warp(f1, gt, "bicubic")
    m = interior(f0.shape)
    assert np.abs(back - f0)[m].mean() < 0.1 * np.abs(f1 - f0)[m].mean()
    with pytest.raises(ValueError, match="flow must have shape"):
        warp(f1, gt[:-1])
    with pytest.raises(ValueError, match="method"):
        warp(f1, gt, "nearest")


def test_divergence_is_the_negative_adjoint_of_the_forward_gradient():
    rng = np.random.default_rng(1)
    u, px, py = rng.random((3, 12, 15))
    ux, uy = gradient_forward(u)
    assert np.isclose(np.sum(ux * px + uy * py), -np.sum(u * divergence_backward(px, py)))


def test_centered_gradient_of_a_ramp():
    yy, xx = np.mgrid[0:6, 0:7].astype(float)
    gx, gy = gradient_centered(2 * xx + 5 * yy)
    np.testing.assert_allclose(gx, 2)
    np.testing.assert_allclose(gy, 5)


def test_pyramid_halves_and_zoom_in_restores_the_size():
    levels = zoom_pyramid(texture(128), 4)
    assert [lv.shape for lv in levels] == [(128, 128), (64, 64), (32, 32), (16, 16)]
    assert zoom_in(levels[2], (128, 128)).shape == (128, 128)
    assert zoom_in(np.zeros((8, 8, 2)), (16, 16)).shape == (16, 16, 2)


def test_endpoint_and_angular_errors_on_known_values():
    gt = np.zeros((4, 4, 2))
    flow = np.zeros((4, 4, 2))
    flow[..., 0] = 3.0
    flow[..., 1] = 4.0
    assert endpoint_error(flow, gt) == pytest.approx(5.0)
    assert angular_error(gt, gt) == pytest.approx(0.0, abs=1e-6)
    one = np.zeros((1, 1, 2))
    one[..., 0] = 1.0
    assert angular_error(one, np.zeros((1, 1, 2))) == pytest.approx(45.0)
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    flow[0, 0] = 0
    assert endpoint_error(flow, gt, mask) == 0.0
    assert endpoint_error(flow, gt, statistic="median") == pytest.approx(5.0)


def test_non_finite_ground_truth_is_masked():
    gt = np.zeros((3, 3, 2))
    gt[0, 0, 0] = np.inf
    flow = np.ones((3, 3, 2))
    assert endpoint_error(flow, gt) == pytest.approx(np.sqrt(2))
    with pytest.raises(ValueError, match="no valid pixel"):
        endpoint_error(flow, gt, np.eye(3, dtype=bool) & False)
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        endpoint_error(flow[..., 0], gt[..., 0])


@pytest.mark.parametrize("a, b, match", [
    (np.zeros((10, 10)), np.zeros((10, 12)), "same shape"),
    (np.zeros((10, 10, 3)), np.zeros((10, 10)), "both be grey or both be colour"),
    (np.full((10, 10), np.nan), np.zeros((10, 10)), "NaN"),
    (np.zeros((3, 3)), np.zeros((3, 3)), "too small"),
    (np.zeros((4, 4, 4, 4)), np.zeros((4, 4, 4, 4)), "grey image"),
])
def test_bad_pairs_get_clear_errors(a, b, match):
    with pytest.raises(ValueError, match=match):
        as_grey_pair(a, b)


def test_colour_pairs_become_luma():
    rgb = np.random.default_rng(0).random((8, 8, 3))
    g0, _ = as_grey_pair(rgb, rgb)
    np.testing.assert_allclose(g0, rgb @ [0.299, 0.587, 0.114])


def test_the_deprecated_pyramid_names_are_gone():
    # issue 22: aliases that nothing called (flow.gaussian_pyramid, factor=) are removed, not kept
    assert not hasattr(flow_package, "gaussian_pyramid") and "gaussian_pyramid" not in flow_package.__all__
    image = texture(64)
    for call in (lambda: zoom_out(image, factor=0.6), lambda: zoom_size((64, 64), factor=0.6),
                 lambda: n_levels_for((64, 64), factor=0.6)):
        with pytest.raises(TypeError, match="factor"):
            call()
    assert zoom_size((64, 64), 0.6) == (38, 38)


@pytest.mark.parametrize("call", [lambda: zoom_size((100, 100), 2), lambda: n_levels_for((64, 64), zoom=1),
                                  lambda: zoom_out(texture(32), 1.5)])
def test_a_zoom_outside_0_1_is_refused_everywhere(call):
    with pytest.raises(UserInputError, match=r"zoom must be a number in \(0, 1\)"):
        call()


@pytest.mark.parametrize("n_levels", [0, 2.7, -1, True])
def test_pair_pyramids_refuses_a_level_count_that_is_not_a_positive_integer(n_levels):
    image = texture(64)
    with pytest.raises(UserInputError, match="n_levels must be a positive integer"):
        pair_pyramids(image, image, n_levels=n_levels)
    with pytest.raises(UserInputError, match="n_levels must be a positive integer"):
        zoom_pyramid(image, n_levels)
    assert len(pair_pyramids(image, image, n_levels=3.0)[0]) == 3   # a whole float is a whole number


def test_coarse_to_fine_starts_every_level_from_the_initial_flow_detail_included():
    # issue 22 (review, disagreement 5): the docstring promises that every level refines from the start;
    # a solver that changes nothing must give the start back, its fine detail included
    rng = np.random.default_rng(0)
    start = np.stack([ndimage.gaussian_filter(rng.normal(size=(64, 64)), 1.5) for _ in range(2)], axis=-1)
    image = texture(64)
    kept = coarse_to_fine(image, image, lambda a, b, f, s: (f, None), n_levels=4, initial_flow=start)
    assert np.abs(kept - start).max() < 1e-4 * np.abs(start).max()
    # and a correction made at a coarse level reaches the finest, added to the start
    def shift_coarsest(a, b, f, s):
        return (f + 1.0 if a.shape == (8, 8) else f), None
    moved = coarse_to_fine(image, image, shift_coarsest, n_levels=4, initial_flow=start)
    np.testing.assert_allclose(moved - start, 8.0, atol=1e-3)


def test_endpoint_error_refuses_an_unknown_statistic():
    gt = np.zeros((4, 4, 2))
    flow = np.ones((4, 4, 2))
    assert endpoint_error(flow, gt, statistic="median") == pytest.approx(np.sqrt(2))
    with pytest.raises(ValueError, match="statistic must be 'mean' or 'median', got 'max'"):
        endpoint_error(flow, gt, statistic="max")


def test_coarse_to_fine_visits_every_level_coarsest_first_and_scales_the_flow():
    seen = []
    image = texture(64)

    def solver(i0, i1, flow, state):
        seen.append((i0.shape, float(flow[..., 0].mean()), None if state is None else state[0].shape))
        return flow + 1.0, [np.zeros(i0.shape, np.float32)]

    flow = coarse_to_fine(image, image, solver, n_levels=3, presmooth=0)
    assert [s[0] for s in seen] == [(16, 16), (32, 32), (64, 64)]
    # 0 -> 1 at the coarsest level, doubled to 2 and refined to 3, doubled to 6 and refined to 7
    assert [round(s[1], 5) for s in seen] == [0.0, 2.0, 6.0]
    assert [s[2] for s in seen] == [None, (32, 32), (64, 64)]
    np.testing.assert_allclose(flow, 7.0, rtol=1e-6)


@pytest.mark.parametrize("start, match", [(np.zeros((64, 64)), "initial_flow must have shape"),
                                          (np.full((64, 64, 2), np.nan), "initial_flow contains NaN")])
def test_coarse_to_fine_refuses_a_bad_initial_flow(start, match):
    image = texture(64)
    with pytest.raises(ValueError, match=match):
        coarse_to_fine(image, image, lambda a, b, f, s: (f, None), initial_flow=start)
