import numpy as np
import pytest

from mer_lib.flow import endpoint_error, threshold_step, tvl1
from mer_lib.flow.common import divergence_backward, gradient_centered, gradient_forward, warp_bicubic
from mer_lib.flow.tvl1 import _tvl1_level

from .conftest import interior, nonrigid_pair, texture, translated_pair


def test_zero_motion_gives_zero_flow():
    f0 = texture(64)
    flow = tvl1(f0, f0.copy())
    assert np.all(flow == 0)


def test_subpixel_translation_of_a_real_texture_within_0_06_px(subpixel_pairs):
    errors = [endpoint_error(tvl1(f0, f1), gt, interior(f0.shape)) for f0, f1, gt in subpixel_pairs]
    assert np.mean(errors) <= 0.06, errors


def test_smooth_nonrigid_field_is_recovered():
    f0, f1, gt = nonrigid_pair(amplitude=0.4)
    assert endpoint_error(tvl1(f0, f1), gt, interior(f0.shape)) <= 0.06


def test_large_sinusoidal_motion_on_noise_like_scikit_images_test():
    rng = np.random.default_rng(0)
    from scipy import ndimage
    f0 = ndimage.gaussian_filter(rng.random((128, 128)), 1.0)
    yy, xx = np.mgrid[0:128, 0:128].astype(float)
    d = 4.5 * np.sin(2 * np.pi * yy / 128)   # horizontal displacement varying along rows
    px = xx.copy()
    for _ in range(40):
        px = xx - 4.5 * np.sin(2 * np.pi * yy / 128)
    f1 = ndimage.map_coordinates(f0, [yy, px], order=3, mode="nearest")
    gt = np.stack([d, np.zeros_like(d)], -1)
    flow = tvl1(f0, f1)
    assert np.abs(flow - gt)[interior(f0.shape, 16)].mean() < 0.5


def test_float32_and_float64_agree():
    f0, f1, _ = translated_pair(0.3, 0.2, size=96)
    a = tvl1(f0.astype(np.float64), f1.astype(np.float64))
    b = tvl1(f0.astype(np.float32), f1.astype(np.float32))
    assert np.abs(a - b).mean() < 1e-3


def test_any_range_and_dtype_give_the_same_flow():
    f0, f1, _ = translated_pair(0.3, 0.2, size=64)
    a = tvl1(f0, f1)
    b = tvl1(f0 * 1000 - 7, f1 * 1000 - 7)
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_threshold_step_cases():
    u1, u2 = np.zeros(3), np.zeros(3)
    gx, gy = np.array([1.0, 1.0, 0.0]), np.array([0.0, 0.0, 0.0])
    grad_sq = gx ** 2 + gy ** 2
    lt = 0.1
    rho = np.array([-1.0, 0.05, 0.3])   # below -lt|g|^2, inside, and a zero-gradient pixel
    v1, v2 = threshold_step(u1, u2, rho, gx, gy, grad_sq, lt)
    np.testing.assert_allclose(v1, [0.1, -0.05, 0.0])
    np.testing.assert_allclose(v2, 0)


@pytest.mark.parametrize("kwargs, match", [(dict(n_levels=8), "smaller than the coarsest pyramid level"),
                                           (dict(lam=0), "lam"), (dict(zoom=1.5), "zoom"),
                                           (dict(tol=-1), "tol"), (dict(n_warps=0), "n_warps"),
                                           (dict(initial_flow=np.zeros((40, 40))), "initial_flow")])
def test_bad_settings_get_clear_errors(kwargs, match):
    f0 = texture(40)
    with pytest.raises(ValueError, match=match):
        tvl1(f0, f0, **kwargs)


def test_bad_frames_get_clear_errors():
    f0 = texture(32)
    with pytest.raises(ValueError, match="same shape"):
        tvl1(f0, f0[:-1])
    with pytest.raises(ValueError, match="NaN"):
        tvl1(f0, np.where(f0 > 0.5, np.nan, f0))
    with pytest.raises(ValueError, match="grey or both be colour"):
        tvl1(np.dstack([f0] * 3), f0)


def _level_from_public_steps(i0, i1, u1, u2, p, lam, theta, tau, n_warps, tol, max_iterations):
    """One TV-L1 level written with the public steps, as chapter 4 presents them (slow, readable)."""
    h, w = i0.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(i0.dtype)
    gx_all, gy_all = gradient_centered(i1)
    p11, p12, p21, p22 = (q.copy() for q in p)
    for _ in range(n_warps):
        u10, u20 = u1.copy(), u2.copy()
        i1w = warp_bicubic(i1, xx + u10, yy + u20)
        gx = warp_bicubic(gx_all, xx + u10, yy + u20)
        gy = warp_bicubic(gy_all, xx + u10, yy + u20)
        grad_sq = gx * gx + gy * gy
        for _ in range(max_iterations):
            rho = i1w + gx * (u1 - u10) + gy * (u2 - u20) - i0
            v1, v2 = threshold_step(u1, u2, rho, gx, gy, grad_sq, lam * theta)
            new1 = v1 + theta * divergence_backward(p11, p12)
            new2 = v2 + theta * divergence_backward(p21, p22)
            error = np.sum((new1 - u1) ** 2 + (new2 - u2) ** 2)
            u1, u2 = new1, new2
            for q in ((p11, p12, u1), (p21, p22, u2)):
                ux, uy = gradient_forward(q[2])
                norm = 1 + tau / theta * np.hypot(ux, uy)
                q[0][...] = (q[0] + tau / theta * ux) / norm
                q[1][...] = (q[1] + tau / theta * uy) / norm
            if error <= tol * tol * h * w:
                break
    return u1, u2, [p11, p12, p21, p22]


@pytest.mark.parametrize("tol, max_iterations", [(1e-9, 25), (0.01, 300)])
def test_fused_level_equals_the_composition_of_the_public_steps(tol, max_iterations):
    f0, f1, _ = translated_pair(0.6, -0.4, size=48)
    i0, i1 = (np.asarray(f, np.float32) * 255 for f in (f0, f1))
    rng = np.random.default_rng(3)
    u1, u2 = (rng.normal(0, 0.3, i0.shape).astype(np.float32) for _ in range(2))
    p = [rng.normal(0, 0.1, i0.shape).astype(np.float32) for _ in range(4)]
    settings = dict(lam=0.15, theta=0.3, tau=0.25, n_warps=3, tol=tol, max_iterations=max_iterations)
    r1, r2, rp = _level_from_public_steps(i0, i1, u1.copy(), u2.copy(), p, **settings)
    fused_p = [q.copy() for q in p]
    counts = []
    _tvl1_level(i0, i1, u1, u2, fused_p, counts=counts, **settings)
    assert len(counts) == 3 and (max_iterations < 300 or min(counts) < max_iterations)
    # float32 arithmetic in another order: differences of a few 1e-5 pixels after hundreds of iterations
    np.testing.assert_allclose(u1, r1, atol=2e-4)
    np.testing.assert_allclose(u2, r2, atol=2e-4)
    for a, b in zip(fused_p, rp):
        np.testing.assert_allclose(a, b, atol=2e-4)
    assert np.abs(u1).max() > 0.1    # the comparison is not of two near-zero fields


def test_initial_flow_is_refined_at_every_level():
    f0, f1, gt = translated_pair(2.0, -1.0, size=64)
    truth = np.broadcast_to(np.array([2.0, -1.0], np.float32), f0.shape + (2,))
    # with one warp and two iterations per level, the flow hardly moves from where it starts
    quick = dict(n_warps=1, max_iterations=2, n_levels=3)
    from_zero = tvl1(f0, f1, **quick)
    from_truth = tvl1(f0, f1, initial_flow=truth, **quick)
    mask = interior(f0.shape)
    assert endpoint_error(from_truth, gt, mask) < 0.2 < endpoint_error(from_zero, gt, mask)
    # one level: the start is the finest level's, as before
    one = tvl1(f0, f1, n_levels=1, n_warps=1, max_iterations=1, initial_flow=truth)
    assert endpoint_error(one, gt, mask) < 0.2


def test_the_deprecated_epsilon_name_is_gone():
    f0, f1, _ = translated_pair(0.3, 0.2, size=48)
    with pytest.raises(TypeError, match="epsilon"):
        tvl1(f0, f1, epsilon=0.05)


def test_return_info_counts_the_levels_and_the_iterations_of_every_warp():
    f0, f1, _ = translated_pair(0.3, 0.2, size=48)
    flow, info = tvl1(f0, f1, n_levels=2, n_warps=3, max_iterations=7, return_info=True)
    assert np.array_equal(flow, tvl1(f0, f1, n_levels=2, n_warps=3, max_iterations=7))
    assert info["levels"] == 2 and len(info["iterations"]) == 2 * 3
    assert all(1 <= n <= 7 for n in info["iterations"])
