import numpy as np
import pytest

from mer_lib.exercises import Case, CheckResult, Exercise, check, exercise_names, register


def correct(clip):
    return np.abs(np.diff(np.asarray(clip, float), axis=0)).mean(axis=(1, 2))


def test_a_correct_answer_passes():
    result = check("intro.motion_energy", correct, quiet=True)
    assert isinstance(result, CheckResult)
    assert result.passed and bool(result)
    assert "passed on all" in result.message


def test_a_stub_is_reported_as_not_attempted():
    def stub(clip):
        raise NotImplementedError("Student exercise")

    result = check("intro.motion_energy", stub, quiet=True)
    assert not result.passed
    assert "not attempted" in result.message


def test_a_wrong_answer_fails_with_the_input_expected_and_got():
    def wraps_around(clip):  # the classic uint8 mistake
        clip = np.asarray(clip)
        return np.abs(np.diff(clip, axis=0)).mean(axis=(1, 2))

    result = check("intro.motion_energy", wraps_around, quiet=True)
    assert not result.passed
    assert result.failed_case == "8-bit frames (uint8)"
    assert "expected" in result.message and "got" in result.message
    assert "wraps around" in result.message  # the case's specific hint


def test_a_wrong_shape_is_named():
    result = check("intro.motion_energy", lambda clip: correct(clip)[:-1], quiet=True)
    assert not result.passed
    assert "shape" in result.message


def test_an_exception_names_the_line():
    def broken(clip):
        return clip.nonexistent

    result = check("intro.motion_energy", broken, quiet=True)
    assert not result.passed
    assert "AttributeError" in result.message and "clip.nonexistent" in result.message


def test_returning_none_is_explained():
    result = check("intro.motion_energy", lambda clip: None, quiet=True)
    assert "return" in result.message


def test_a_function_that_writes_into_its_input_cannot_corrupt_the_reference():
    def destructive(clip):
        out = correct(clip)
        clip[...] = 0
        return out

    assert check("intro.motion_energy", destructive, quiet=True).passed


def test_an_unknown_exercise_lists_the_known_ones():
    with pytest.raises(KeyError, match="intro.motion_energy"):
        check("no.such.exercise", correct)


def test_check_prints_its_verdict(capsys):
    check("intro.motion_energy", correct)
    assert "[PASS] intro.motion_energy" in capsys.readouterr().out


def test_register_refuses_a_duplicate_name():
    ex = Exercise("test.dup", lambda: [Case("x", (1,))], reference=lambda x: x)
    register(ex)
    with pytest.raises(ValueError, match="already registered"):
        register(ex)


def test_every_registered_exercise_passes_with_its_own_reference():
    from mer_lib.exercises import _REGISTRY

    for name in exercise_names():
        assert check(name, _REGISTRY[name].reference, quiet=True).passed, name


def test_check_prediction_numbers_choices_and_not_attempted(capsys):
    from mer_lib.exercises import check_prediction

    assert check_prediction("loss", 1.1, 1.0986, quiet=True).passed
    assert not check_prediction("loss", 2.3, 1.0986, quiet=True).passed
    assert not check_prediction("loss", ..., 1.0986, quiet=True).passed
    assert "not attempted" in check_prediction("loss", ..., 1.0, quiet=True).message
    wrong = check_prediction("curve", "c", "a", choices=("a", "b"), quiet=True)
    assert not wrong.passed and "not one of" in wrong.message
    check_prediction("curve", "a", "a", choices=("a", "b"), explain="It falls first.")
    out = capsys.readouterr().out
    assert "[PASS]" in out and "It falls first." in out


def test_mcnemar_exercise_catches_a_one_sided_test():
    from scipy import stats

    from mer_lib.exercises import check
    from mer_lib.exercises.ch11_evaluation import mcnemar_exact

    assert check("evaluation.mcnemar_exact", mcnemar_exact, quiet=True).passed

    def one_sided(y, a, b):
        right_a, right_b = a == y, b == y
        k, n = int(np.sum(right_a & ~right_b)), int(np.sum(right_a != right_b))
        return 1.0 if n == 0 else float(stats.binom.cdf(min(k, n - k), n, 0.5))

    result = check("evaluation.mcnemar_exact", one_sided, quiet=True)
    assert not result.passed and "two-sided" in result.message
def test_flow_to_hsv_checker_names_the_turned_hue_and_the_unclipped_saturation():
    from mer_lib.exercises.ch02_flow_theory import flow_to_hsv

    assert check("flow_theory.flow_to_hsv", flow_to_hsv, quiet=True).passed

    def y_up(flow, max_flow):  # the classic mistake: rows taken to point up
        flow = np.asarray(flow, float)
        hue = np.mod(np.arctan2(-flow[..., 1], flow[..., 0]) / (2 * np.pi), 1.0)
        sat = np.minimum(np.hypot(flow[..., 0], flow[..., 1]) / max_flow, 1.0)
        return np.stack([hue, sat, np.ones_like(hue)], -1)

    result = check("flow_theory.flow_to_hsv", y_up, quiet=True)
    assert not result.passed and result.failed_case.startswith("four unit motions")
    assert "rows grow downwards" in result.message

    def unclipped(flow, max_flow):
        out = flow_to_hsv(flow, max_flow)
        out[..., 1] = np.hypot(flow[..., 0], flow[..., 1]) / max_flow
        return out

    result = check("flow_theory.flow_to_hsv", unclipped, quiet=True)
    assert result.failed_case == "motions faster than max_flow" and "stops at 1" in result.message


def test_horn_schunck_classic_checker_finds_the_known_answer_and_names_a_wrong_stopping_rule():
    from mer_lib.exercises import _REGISTRY
    from mer_lib.exercises.ch03_horn_schunck import horn_schunck_classic
    from mer_lib.flow.horn_schunck import hs_average, hs_update

    case = _REGISTRY["horn_schunck.horn_schunck_classic"].cases()[0]
    u, v, n = horn_schunck_classic(*case.args)
    assert np.allclose(u, 0.3, atol=1e-3) and np.allclose(v, -0.2, atol=1e-3)  # the known answer
    assert check("horn_schunck.horn_schunck_classic", horn_schunck_classic, quiet=True).passed

    def never_stops(ex, ey, et, alpha, tol=1e-3, max_iter=500):  # forgets the stopping rule
        u = np.zeros_like(ex, dtype=float)
        v = np.zeros_like(ex, dtype=float)
        for _ in range(max_iter):
            u, v = hs_update(hs_average(u), hs_average(v), ex, ey, et, alpha)
        return u, v, max_iter

    result = check("horn_schunck.horn_schunck_classic", never_stops, quiet=True)
    assert not result.passed and "stopping rule" in result.message


def test_red_black_sor_checker_wants_the_exact_minimiser_and_names_a_jacobi_sweep():
    from mer_lib.exercises import _REGISTRY
    from mer_lib.exercises.ch03_horn_schunck import _exact, _jacobi_like, _neighbour_sum, red_black_sor

    case = _REGISTRY["horn_schunck.red_black_sor"].cases()[3]          # 300 sweeps: judged by the sparse solve
    u, v = red_black_sor(*case.args, **case.kwargs)
    exact = _exact(*case.args)
    assert np.abs(u - exact[0]).max() < 1e-6 and np.abs(v - exact[1]).max() < 1e-6
    assert check("horn_schunck.red_black_sor", red_black_sor, quiet=True).passed

    def jacobi(ex, ey, et, alpha, omega=1.9, n_sweeps=100):   # both colours from the previous sweep
        return _jacobi_like(ex, ey, et, alpha, omega, n_sweeps)

    result = check("horn_schunck.red_black_sor", jacobi, quiet=True)
    assert not result.passed and "Jacobi" in result.message

    def black_first(ex, ey, et, alpha, omega=1.9, n_sweeps=100):   # the colours in the other order
        n = _neighbour_sum(np.ones(ex.shape))
        den = alpha ** 2 * n + ex * ex + ey * ey
        rows, cols = np.indices(ex.shape)
        red = (rows + cols) % 2 == 0
        u, v = np.zeros(ex.shape), np.zeros(ex.shape)
        for _ in range(n_sweeps):
            for colour in (~red, red):
                ub, vb = _neighbour_sum(u) / n, _neighbour_sum(v) / n
                c = (ex * ub + ey * vb + et) / den
                u = np.where(colour, u + omega * (ub - ex * c - u), u)
                v = np.where(colour, v + omega * (vb - ey * c - v), v)
        return u, v

    assert not check("horn_schunck.red_black_sor", black_first, quiet=True).passed


def test_translation_flow_checker_catches_a_single_linear_step():
    from mer_lib.exercises.ch02_flow_theory import translation_flow

    assert check("flow_theory.translation_flow", translation_flow, quiet=True).passed

    def one_step(f0, f1, n_iter=10, margin=8):   # never re-linearises
        return translation_flow(f0, f1, min(n_iter, 1), margin)

    result = check("flow_theory.translation_flow", one_step, quiet=True)
    assert not result.passed and "bring f1 back" in result.message


def test_lucas_kanade_checker_wants_nan_where_the_window_is_ill_conditioned():
    from mer_lib.exercises.ch02_flow_theory import lucas_kanade

    assert check("flow_theory.lucas_kanade", lucas_kanade, quiet=True).passed

    def never_unknown(f0, f1, radius=2, min_eigenvalue=1e-4):   # no conditioning test
        with np.errstate(all="ignore"):
            return lucas_kanade(f0, f1, radius, -np.inf)

    result = check("flow_theory.lucas_kanade", never_unknown, quiet=True)
    assert not result.passed and result.failed_case == "a moving grating (one gradient direction)"

    def mean_not_sum(f0, f1, radius=2, min_eigenvalue=1e-4):   # the eigenvalue of the window's mean matrix
        return lucas_kanade(f0, f1, radius, min_eigenvalue * (2 * radius + 1) ** 2)

    result = check("flow_theory.lucas_kanade", mean_not_sum, quiet=True)
    assert not result.passed and "sums" in result.message


def test_tim_checker_refuses_a_linear_blend():
    from mer_lib.data import resample_clip
    from mer_lib.exercises.ch01_data import tim_resample

    assert check("data.tim_resample", tim_resample, quiet=True).passed
    result = check("data.tim_resample", lambda clip, n: resample_clip(clip, n, "blend"), quiet=True)
    assert not result.passed and "continuous t" in result.message


def test_pyramid_flow_checker_names_a_flow_not_doubled_between_levels():
    from mer_lib.exercises.ch04_tvl1 import pyramid_flow
    from mer_lib.flow.common import zoom_in, zoom_out

    assert check("tvl1.pyramid_flow", pyramid_flow, quiet=True).passed

    def not_doubled(f0, f1, solve, n_levels):
        levels = [(f0, f1)]
        for _ in range(n_levels - 1):
            levels.append(tuple(zoom_out(f) for f in levels[-1]))
        flow = np.zeros(levels[-1][0].shape + (2,))
        for k in range(n_levels - 1, -1, -1):
            flow = solve(*levels[k], flow)
            if k:
                flow = zoom_in(flow, levels[k - 1][0].shape)
        return flow

    result = check("tvl1.pyramid_flow", not_doubled, quiet=True)
    assert not result.passed and "15 px" in result.message and "pixels of the level" in result.message

    def not_smoothed(f0, f1, solve, n_levels):   # every other pixel, without smoothing first: aliasing
        levels = [(np.asarray(f0, float), np.asarray(f1, float))]
        for _ in range(n_levels - 1):
            levels.append(tuple(f[::2, ::2] for f in levels[-1]))
        flow = np.zeros(levels[-1][0].shape + (2,))
        for k in range(n_levels - 1, -1, -1):
            flow = solve(*levels[k], flow)
            if k:
                flow = 2.0 * zoom_in(flow, levels[k - 1][0].shape)
        return flow

    result = check("tvl1.pyramid_flow", not_smoothed, quiet=True)
    assert not result.passed and result.failed_case.startswith("a fine texture") and "alias" in result.message


def test_chambolle_rof_checker_knows_the_constant_image_and_names_a_missing_theta():
    from mer_lib.exercises.ch04_tvl1 import chambolle_rof
    from mer_lib.flow.common import divergence_backward, gradient_forward

    flat = np.full((5, 6), 3.0)
    assert np.array_equal(chambolle_rof(flat, 0.5, 0.25, 20), flat)  # the known answer: nothing to remove
    assert check("tvl1.chambolle_rof", chambolle_rof, quiet=True).passed

    def step_tau_not_over_theta(v, theta, tau=0.25, n_iter=50):
        px = np.zeros_like(v)
        py = np.zeros_like(v)
        for _ in range(n_iter):
            ux, uy = gradient_forward(v + theta * divergence_backward(px, py))
            norm = 1 + tau * np.hypot(ux, uy)
            px, py = (px + tau * ux) / norm, (py + tau * uy) / norm
        return v + theta * divergence_backward(px, py)

    result = check("tvl1.chambolle_rof", step_tau_not_over_theta, quiet=True)
    assert not result.passed and result.failed_case == "one iteration on a vertical step"
    assert "tau/theta" in result.message
