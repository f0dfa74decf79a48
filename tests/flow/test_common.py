import numpy as np
import pytest
from scipy import ndimage

from mer_lib.flow import angular_error, endpoint_error, gaussian_pyramid, warp, warp_bicubic, warp_bilinear
from mer_lib.flow.common import as_grey_pair, divergence_backward, gradient_centered, gradient_forward, zoom_in

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
    levels = gaussian_pyramid(texture(128), 4)
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
