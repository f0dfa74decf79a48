import numpy as np
import pytest

from mer_lib.flow import endpoint_error, threshold_step, tvl1

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
                                           (dict(lam=0), "lam"), (dict(zoom=1.5), "zoom")])
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
