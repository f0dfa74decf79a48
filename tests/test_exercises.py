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


def test_hs_update_hint_names_the_case_without_giving_the_formula():
    from mer_lib.flow.horn_schunck import hs_update

    def alpha_not_squared(u_avg, v_avg, ex, ey, et, alpha):
        common = (ex * u_avg + ey * v_avg + et) / (alpha + ex ** 2 + ey ** 2)
        return u_avg - ex * common, v_avg - ey * common

    result = check("horn_schunck.hs_update", alpha_not_squared, quiet=True)
    assert not result.passed and result.failed_case == "6x7 maps, alpha = 5"
    assert "denominator" in result.message and "alpha^2 +" not in result.message
    assert check("horn_schunck.hs_update", hs_update, quiet=True).passed


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


def test_n_levels_hint_points_at_the_diagonal_without_the_formula():
    result = check("tvl1.n_levels", lambda shape: int(np.log2(max(shape) / 16)) + 1, quiet=True)
    assert not result.passed and result.failed_case == "30 x 30"
    assert "diagonal" in result.message and "log2" not in result.message
