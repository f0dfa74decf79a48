"""Exercise checkers: pass or fail with a specific hint.

An exercise in the book is a code cell holding the student's function stub
(which raises ``NotImplementedError``), followed by a call to :func:`check`.
The checker runs the student's function on a set of inputs, compares each
answer with the reference, and says which input failed, what was expected
and what came back.  The reference solution sits in the next cell, tagged
``solution``.

Exercises are registered with :func:`register`; the definitions for each
chapter live in this package, one module per chapter.

Examples
--------
>>> import numpy as np
>>> from mer_lib.exercises import check
>>> def motion_energy(clip):
...     clip = np.asarray(clip, dtype=float)
...     return np.abs(np.diff(clip, axis=0)).mean(axis=(1, 2))
>>> check("intro.motion_energy", motion_energy, quiet=True).passed
True
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["CheckResult", "Case", "Exercise", "register", "check", "check_prediction", "exercise_names", "describe"]


@dataclass
class Case:
    """One input on which an exercise is checked.

    Parameters
    ----------
    label : str
        How the hint names this input ("a constant clip", "uint8 frames").
    args : tuple
        Positional arguments for the student's function.
    kwargs : dict
        Keyword arguments for the student's function.
    """

    label: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


@dataclass
class Exercise:
    """An exercise: inputs, a reference answer and how to compare.

    Parameters
    ----------
    name : str
        Dotted name, ``chapter.function`` (``"intro.motion_energy"``).
    cases : callable
        Returns the list of :class:`Case` to run (built lazily, so that
        registering is cheap).
    reference : callable
        The reference solution, called with each case's arguments.
    rtol, atol : float
        Tolerances for numerical answers (``numpy.allclose``).
    advice : dict, optional
        Extra hint per case label, shown when that case fails.
    compare : callable, optional
        ``compare(got, expected, case) -> str or None``: a custom comparison
        returning a description of the mismatch, or None when they agree.
    """

    name: str
    cases: Callable[[], list]
    reference: Callable
    rtol: float = 1e-5
    atol: float = 1e-8
    advice: dict = field(default_factory=dict)
    compare: Callable | None = None


@dataclass
class CheckResult:
    """The outcome of :func:`check`: truthy when the exercise passed.

    Attributes
    ----------
    exercise : str
        The exercise's name.
    passed : bool
        Whether every case agreed with the reference.
    message : str
        "Passed ..." or the hint: which input failed, expected and got.
    failed_case : str or None
        The label of the first failing case.
    """

    exercise: str
    passed: bool
    message: str
    failed_case: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"[{mark}] {self.exercise}: {self.message}"


_REGISTRY: dict[str, Exercise] = {}
_LOADED = False


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to the registry (its name must be new).

    Parameters
    ----------
    exercise : Exercise
        The definition.

    Returns
    -------
    Exercise
        The same object, for use at module level.
    """
    if exercise.name in _REGISTRY:
        raise ValueError(f"exercise {exercise.name!r} is already registered")
    _REGISTRY[exercise.name] = exercise
    return exercise


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    for mod in pkgutil.iter_modules(__path__):
        if mod.name.startswith("ch"):
            importlib.import_module(f"{__name__}.{mod.name}")
    _LOADED = True


def exercise_names() -> list[str]:
    """Names of all registered exercises, sorted.

    Returns
    -------
    list of str
    """
    _load_all()
    return sorted(_REGISTRY)


def describe(value: Any) -> str:
    """A short description of a value for a hint: type, shape, dtype, a few numbers.

    Parameters
    ----------
    value : object
        Any answer (array, number, tuple...).

    Returns
    -------
    str
    """
    if isinstance(value, np.ndarray) or np.isscalar(value) and isinstance(value, np.generic):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return f"{arr.dtype} scalar {arr.item()!r}"
        flat = arr.ravel()
        head = np.array2string(flat[:4], precision=4, separator=", ")
        more = ", ..." if flat.size > 4 else ""
        return f"array of shape {arr.shape}, dtype {arr.dtype}, values {head[:-1]}{more}]"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in value[:3])
        more = ", ..." if len(value) > 3 else ""
        return f"{type(value).__name__} of {len(value)}: ({inner}{more})"
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}"


def _compare(got: Any, expected: Any, ex: Exercise) -> str | None:
    """Describe how ``got`` differs from ``expected``; None when they agree."""
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected {describe(expected)}, got {describe(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            diff = _compare(g, e, ex)
            if diff:
                return f"item {i}: {diff}"
        return None
    if isinstance(expected, (str, bool)) or expected is None:
        return None if got == expected else f"expected {expected!r}, got {got!r}"
    exp = np.asarray(expected)
    if got is None:
        return "your function returned None: did you forget `return`?"
    try:
        arr = np.asarray(got, dtype=float) if np.isrealobj(got) else np.asarray(got)
    except (TypeError, ValueError):
        return f"expected {describe(expected)}, got {describe(got)}"
    if arr.shape != exp.shape:
        return f"expected shape {exp.shape}, got shape {arr.shape} ({describe(got)})"
    if np.isnan(arr).any() and not np.isnan(exp).any():
        return f"your answer contains NaN at {np.argwhere(np.isnan(arr))[0].tolist()}"
    if not np.allclose(arr, exp, rtol=ex.rtol, atol=ex.atol, equal_nan=True):
        err = np.abs(arr - exp)
        where = np.unravel_index(np.nanargmax(err), err.shape) if err.ndim else ()
        at = f" at index {tuple(int(i) for i in where)}" if err.ndim else ""
        return (f"values differ{at}: expected {exp[where]!r}, got {arr[where]!r} "
                f"(largest error {np.nanmax(err):.3g}, tolerance rtol={ex.rtol:g}, "
                f"atol={ex.atol:g}); expected {describe(expected)}, got {describe(got)}")
    return None


def check(name: str, func: Callable, *, quiet: bool = False) -> CheckResult:
    """Check a student's function against the reference of an exercise.

    Parameters
    ----------
    name : str
        The exercise's name, e.g. ``"intro.motion_energy"``.
    func : callable
        The student's function.
    quiet : bool
        When False (the default) the result is printed.

    Returns
    -------
    CheckResult
        Truthy when every case passed; its ``message`` is the hint.

    Raises
    ------
    KeyError
        When no exercise has that name (the message lists the known ones).
    TypeError
        When ``func`` is not callable.
    """
    _load_all()
    if name not in _REGISTRY:
        raise KeyError(f"no exercise named {name!r}; known exercises: {', '.join(sorted(_REGISTRY))}")
    if not callable(func):
        raise TypeError(f"check({name!r}, func): func must be your function, got {describe(func)}")
    ex = _REGISTRY[name]
    cases = ex.cases()
    result = None
    for case in cases:
        expected = ex.reference(*_copy(case.args), **_copy(case.kwargs))
        try:
            got = func(*_copy(case.args), **_copy(case.kwargs))
        except NotImplementedError:
            result = CheckResult(name, False, "not attempted yet: replace `raise NotImplementedError` "
                                 "with your code, run that cell, then run this one again.", case.label)
            break
        except Exception as err:  # the student's code failed: say where
            frame = traceback.extract_tb(err.__traceback__)[-1]
            result = CheckResult(name, False, f"on {case.label}, your function raised "
                                 f"{type(err).__name__}: {err} (line {frame.lineno}: "
                                 f"`{(frame.line or '').strip()}`)", case.label)
            break
        diff = ex.compare(got, expected, case) if ex.compare else _compare(got, expected, ex)
        if diff:
            hint = ex.advice.get(case.label, "")
            result = CheckResult(name, False, f"on {case.label}: {diff}." + (f" Hint: {hint}" if hint else ""),
                                 case.label)
            break
    if result is None:
        result = CheckResult(name, True, f"passed on all {len(cases)} inputs "
                             f"({'; '.join(c.label for c in cases)}).")
    if not quiet:
        print(result)
    return result


def _copy(obj):
    """Deep-copy arrays so that a function that writes into its input cannot
    corrupt the reference's copy of the case."""
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, tuple):
        return tuple(_copy(o) for o in obj)
    if isinstance(obj, list):
        return [_copy(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    return obj


def check_prediction(question: str, prediction: Any, measured: Any, *, choices=None, rtol: float = 0.25,
                     explain: str = "", quiet: bool = False) -> CheckResult:
    """Compare a prediction the student wrote down with what a provided cell measured.

    A "predict, then measure" exercise: the student sets ``prediction`` before
    running the measurement, then this call says whether the prediction held
    and what the measurement shows. A wrong prediction is not an error.

    Parameters
    ----------
    question : str
        What was predicted ("the loss at initialisation").
    prediction : object
        The student's answer: one of ``choices``, or a number. ``...`` (the
        stub's placeholder) means not attempted yet.
    measured : object
        What the provided cell measured, of the same kind.
    choices : sequence, optional
        The allowed answers; a prediction outside them is reported as such.
    rtol : float
        Relative tolerance for a numerical prediction.
    explain : str
        What the measurement shows, printed whatever the prediction.
    quiet : bool

    Returns
    -------
    CheckResult
        ``passed`` is True when the prediction matched the measurement.

    Examples
    --------
    >>> check_prediction("the loss at initialisation", 1.1, 1.0986, quiet=True).passed
    True
    >>> check_prediction("which curve falls first", "b", "a", choices=("a", "b"), quiet=True).passed
    False
    """
    name = f"prediction: {question}"
    if prediction is Ellipsis:
        result = CheckResult(name, False, "not attempted yet: replace `...` with your prediction, "
                             "run that cell, then run the measurement again.")
    elif choices is not None and prediction not in tuple(choices):
        result = CheckResult(name, False, f"your prediction {prediction!r} is not one of "
                             f"{', '.join(repr(c) for c in choices)}.")
    else:
        if choices is None:
            try:
                ok = bool(np.isclose(float(prediction), float(measured), rtol=rtol, atol=0.0))
            except (TypeError, ValueError):
                ok = prediction == measured
        else:
            ok = prediction == measured
        mark = "held" if ok else "did not hold"
        shown = f"{float(measured):.4g}" if choices is None and np.isscalar(measured) and \
            not isinstance(measured, (str, bool)) else repr(measured)
        result = CheckResult(name, ok, f"you predicted {prediction!r}, the measurement gives {shown}: "
                             f"your prediction {mark}." + (f" {explain}" if explain else ""))
    if not quiet:
        print(result)
    return result
