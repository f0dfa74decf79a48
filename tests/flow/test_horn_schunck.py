import numpy as np
import pytest

from mer_lib.flow import endpoint_error, horn_schunck, hs_update

from .conftest import interior, nonrigid_pair, texture, translated_pair


@pytest.mark.parametrize("method", ["multiscale", "classic"])
def test_zero_motion_gives_zero_flow(method):
    f0 = texture(48)
    assert np.all(horn_schunck(f0, f0.copy(), method=method) == 0)


def test_subpixel_translation_within_0_1_px(subpixel_pairs):
    errors = [endpoint_error(horn_schunck(f0, f1), gt, interior(f0.shape)) for f0, f1, gt in subpixel_pairs]
    assert np.mean(errors) <= 0.1, errors


def test_smooth_nonrigid_field_within_0_1_px():
    f0, f1, gt = nonrigid_pair(amplitude=0.4)
    assert endpoint_error(horn_schunck(f0, f1), gt, interior(f0.shape)) <= 0.1


def test_classic_method_moves_in_the_right_direction_but_less_accurately():
    f0, f1, gt = translated_pair(0.3, -0.2)
    classic = horn_schunck(f0, f1, method="classic")
    m = interior(f0.shape)
    assert np.median(classic[..., 0][m]) > 0.1 and np.median(classic[..., 1][m]) < -0.05
    assert endpoint_error(classic, gt, m) > endpoint_error(horn_schunck(f0, f1), gt, m)


def test_hs_update_zeroes_the_residual_when_alpha_is_small():
    ex, ey, et = np.array([2.0]), np.array([1.0]), np.array([-1.0])
    u, v = hs_update(np.zeros(1), np.zeros(1), ex, ey, et, alpha=1e-6)
    assert ex * u + ey * v + et == pytest.approx(0.0, abs=1e-9)


def test_float32_and_float64_agree():
    f0, f1, _ = translated_pair(0.3, 0.2, size=64)
    a = horn_schunck(f0.astype(np.float64), f1.astype(np.float64))
    b = horn_schunck(f0.astype(np.float32), f1.astype(np.float32))
    assert np.abs(a - b).mean() < 1e-3


def test_bad_input_gets_clear_errors():
    f0 = texture(32)
    with pytest.raises(ValueError, match="method"):
        horn_schunck(f0, f0, method="lucas-kanade")
    with pytest.raises(ValueError, match="alpha"):
        horn_schunck(f0, f0, alpha=-1)
    with pytest.raises(ValueError, match="smaller than the coarsest"):
        horn_schunck(f0, f0, n_levels=7)
    with pytest.raises(ValueError, match="same shape"):
        horn_schunck(f0, f0.T[:, :-2])


def test_initial_flow_is_honoured():
    f0, f1, gt = translated_pair(0.3, 0.2, size=48)
    start = np.broadcast_to(np.array([0.3, 0.2]), f0.shape + (2,))
    quick = dict(n_warps=1, max_iterations=1)
    assert (np.abs(horn_schunck(f0, f1, initial_flow=start, **quick) - gt).mean()
            < np.abs(horn_schunck(f0, f1, **quick) - gt).mean())
    with pytest.raises(ValueError, match="initial_flow is for method='multiscale'"):
        horn_schunck(f0, f1, method="classic", initial_flow=start)
    with pytest.raises(ValueError, match="omega"):
        horn_schunck(f0, f1, omega=2.5)


@pytest.mark.parametrize("setting", [dict(n_warps=0), dict(max_iterations=0), dict(max_iterations=-3),
                                     dict(n_warps=2.5), dict(n_levels=2.7), dict(n_levels=0),
                                     dict(method="classic", n_iterations=0)])
def test_a_count_that_is_not_a_positive_integer_is_refused_not_run_as_zero_flow(setting):
    # issue 22 (review D4): n_warps=0 or max_iterations=0 returned an all-zero flow; n_levels=2.7 ran as 2
    from mer_lib.errors import UserInputError

    f0, f1, _ = translated_pair(0.3, 0.2, size=48)
    (name,) = [k for k in setting if k != "method"]
    with pytest.raises(UserInputError, match=f"{name} must be a positive integer"):
        horn_schunck(f0, f1, **setting)


def test_the_deprecated_tolerance_name_is_gone():
    f0, f1, _ = translated_pair(0.3, 0.2, size=48)
    with pytest.raises(TypeError, match="tolerance"):
        horn_schunck(f0, f1, tolerance=1e-2)
