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
