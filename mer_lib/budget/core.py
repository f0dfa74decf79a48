"""Budgets and the general planner: how many seconds a cell may take, and the largest plan that fits."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np

from mer_lib.errors import UserInputError


#: The environment variable that scales every chapter's time budget (default 1).
BUDGET_SCALE_VARIABLE = "MER_BUDGET_SCALE"
#: Epoch counts a plan chooses from (the paper's 100 at most).
EPOCH_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100)
#: Start-up of a pool of pre-processing processes (spawned, each importing the library), in seconds.
POOL_START_S = 4.0
#: The book's planned cells and their budgets in seconds, (full mode, fast mode): the one place to retune the
#: CPU time of a build. The book must build in 20 minutes on an idle 2-core machine, 30 beside two busy
#: processes, with no cell above a third of the 1200 s cell timeout (issue 20); the other chapters take about
#: ten minutes of the twenty (benchmarks/results/book-build.json has the last measured build). In fast mode
#: (make test) a cell checks the code path: its budget is small, and a plan that does not fit runs at its smallest.
BOOK_BUDGETS = {
    "flow comparison, chapter 4": (45.0, 10.0),  # five flow methods on three inputs, the motorcycle's size planned
    "pre-processing": (70.0, 30.0),          # chapters 10 and 11 (chapter 11 reads what chapter 10 cached)
    "first steps, chapter 10": (45.0, 15.0),  # the diagnosis of both recipes' first steps
    "training, chapter 10": (75.0, 20.0),    # both recipes
    "training, chapter 11": (95.0, 30.0),    # the short reproduction
    "training, chapter 14": (55.0, 10.0),    # four small two-stream networks: the epochs
    "shallow network, chapter 14": (20.0, 8.0),  # chapter 13's shallow network, one copy per seed: its epochs
    "attribution, chapter 14": (35.0, 8.0),  # their maps on the test clips: integrated gradients' steps, the patch
    "training, chapter 13": (50.0, 15.0),    # 10 seeds x (1 split + 22 subjects) shallow copies: their epochs
}


def budget_seconds(full, fast=None):
    """A chapter's time budget in seconds: ``full`` (``fast`` in fast mode), times ``MER_BUDGET_SCALE``.

    Parameters
    ----------
    full : float
        Seconds in a full run.
    fast : float, optional
        Seconds in fast mode (:func:`mer_lib.env.fast_mode`); default ``full``.

    Returns
    -------
    float

    Raises
    ------
    UserInputError
        ``MER_BUDGET_SCALE`` is set but not a positive number.

    Examples
    --------
    >>> import os
    >>> os.environ["MER_BUDGET_SCALE"] = "2"
    >>> budget_seconds(100)          # the same in both modes
    200.0
    >>> del os.environ["MER_BUDGET_SCALE"]
    """
    from mer_lib.env import pick

    seconds = float(pick(full, full if fast is None else fast))
    text = os.environ.get(BUDGET_SCALE_VARIABLE, "").strip()
    if not text:
        return seconds
    try:
        scale = float(text)
    except ValueError:
        scale = float("nan")
    if not (math.isfinite(scale) and scale > 0):
        raise UserInputError(f"{BUDGET_SCALE_VARIABLE}: expected a positive number (a factor on every chapter's "
                             f"time budget), got {text!r}")
    return seconds * scale


def book_budget(name):
    """The budget of one of the book's planned cells (:data:`BOOK_BUDGETS`), starting now.

    Parameters
    ----------
    name : str
        A key of :data:`BOOK_BUDGETS`.

    Returns
    -------
    Budget
        :func:`budget_seconds` of its (full, fast) seconds.

    Examples
    --------
    >>> book_budget("pre-processing").label
    'pre-processing'
    """
    if name not in BOOK_BUDGETS:
        raise ValueError(f"unknown budget {name!r}: choose from {', '.join(BOOK_BUDGETS)}")
    return Budget(budget_seconds(*BOOK_BUDGETS[name]), name)


class Budget:
    """A time budget that starts now.

    Parameters
    ----------
    seconds : float
        Positive.
    label : str
        What the budget is for, in the plans' sentences.
    clock : callable
        Seconds, monotonic (default ``time.monotonic``); the runners time
        their runs with it too.

    Examples
    --------
    >>> b = Budget(60, "training")
    >>> 59 < b.left() <= 60 and b.fits(30)
    True
    """

    def __init__(self, seconds, label="the run", clock=time.monotonic):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer, np.floating)) \
                or not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"seconds must be a positive number, got {seconds!r}")
        self.seconds = float(seconds)
        self.label = str(label)
        self.clock = clock
        self.started = clock()

    def elapsed(self):
        """Seconds since the budget started."""
        return self.clock() - self.started

    def left(self):
        """Seconds left (negative when overrun)."""
        return self.seconds - self.elapsed()

    def fits(self, seconds):
        """Whether ``seconds`` more still fit."""
        return seconds <= self.left()

    def __repr__(self):
        return f"Budget({self.seconds:.0f} s for {self.label}, {self.left():.0f} s left)"


@dataclass(frozen=True)
class Plan:
    """What a planner chose, what it expects it to cost, and why.

    Attributes
    ----------
    choice : dict
        Option name -> chosen value (e.g. ``{"epochs": 3}``).
    predicted_s : float
        The predicted cost of the choice, in seconds.
    budget_s : float
        The seconds it was planned for (what was left of the budget then).
    fits : bool
        False when even the smallest plan is predicted to overrun the budget
        (it is then the smallest plan).
    reason : str
        The measurements and the rule behind the choice, in words.
    largest : dict
        Option name -> the largest value it was offered (what a machine with
        time to spare would run).
    total_s : float or None
        The whole budget, when planned from a :class:`Budget` partly spent.
    degraded : bool
        True when a runner ran less than planned because the machine was
        slower than measured; ``notes`` says what and why.
    notes : tuple of str
    """

    choice: dict
    predicted_s: float
    budget_s: float
    fits: bool
    reason: str
    largest: dict = field(default_factory=dict)
    degraded: bool = False
    notes: tuple = ()
    total_s: float | None = None

    def __getitem__(self, name):
        return self.choice[name]

    def with_note(self, note, degraded=False, **choice):
        """A copy with a note added (and ``degraded`` set, and choices changed, when asked).

        A note of a degradation starts with "DEGRADED:" in :meth:`describe`.
        """
        note = f"DEGRADED: {note}" if degraded else str(note)
        return dataclasses.replace(self, choice={**self.choice, **choice}, degraded=self.degraded or degraded,
                                   notes=self.notes + (note,))

    def describe(self):
        """The plan in words: the choice, the prediction against the budget, the reason, any degradation."""
        chosen = ", ".join(f"{k} {_fmt(v)}" for k, v in self.choice.items())
        limits = [f"{k} up to {_fmt(v)}" for k, v in self.largest.items() if v != self.choice.get(k)]
        budget = (f"; {self.budget_s:.0f} s left of a {self.total_s:.0f} s budget"
                  if self.total_s is not None and self.total_s > self.budget_s + 0.5
                  else f" of a {self.budget_s:.0f} s budget")
        lines = [f"plan: {chosen} (predicted {self.predicted_s:.0f} s{budget}"
                 + ("" if self.fits else "; OVER BUDGET: the smallest plan there is") + ")"]
        if self.reason:
            lines.append(f"  why: {self.reason}")
        if limits:
            lines.append(f"  a machine with more time would run {', '.join(limits)} "
                         f"(more time: {BUDGET_SCALE_VARIABLE}=4, say, or a GPU)")
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)


def _fmt(value):
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(str(v) for v in value)}]"
    return str(value)


def plan(budget, cost, options, *, reason=""):
    """The largest choice of options whose predicted cost fits a budget, grown in turns.

    Every option starts at its first (smallest) value. Then, in turns, each
    option in the order given moves to its next value if the predicted cost
    of the whole choice still fits; the turns stop when no option can move.
    So the options earlier in ``options`` are the more important, and all
    grow together rather than one taking the whole budget.

    Parameters
    ----------
    budget : Budget or float
        A budget (what is left of it now is planned; nothing left plans the
        smallest choice, over budget) or a positive number of seconds.
    cost : callable
        ``cost(choice) -> seconds`` for a dict of option name -> value; it
        should not decrease when an option moves to a later value.
    options : dict of str to sequence
        Option name -> the values it may take, smallest first (at least one).
    reason : str
        The measurements the cost was built from, for :attr:`Plan.reason`.

    Returns
    -------
    Plan
        Never empty: when even the smallest choice does not fit, that choice,
        with ``fits=False``.

    Raises
    ------
    ValueError
        No option, an option with no value, a budget that is not positive,
        or a cost that is not a finite number of seconds >= 0.

    Examples
    --------
    >>> p = plan(100, lambda c: 10 * c["epochs"] * c["runs"], {"runs": [1, 2, 4], "epochs": [1, 2, 3, 5]})
    >>> p.choice, p.predicted_s, p.fits         # runs 2, epochs 2, runs 4; then epochs 3 would cost 120
    ({'runs': 4, 'epochs': 2}, 80.0, True)
    >>> plan(5, lambda c: 10 * c["epochs"], {"epochs": [1, 2]}).fits
    False
    """
    total = None
    if isinstance(budget, Budget):
        budget_s, total = max(budget.left(), 0.0), budget.seconds
    elif isinstance(budget, (int, float, np.integer, np.floating)) and not isinstance(budget, bool) and budget > 0:
        budget_s = float(budget)
    else:
        raise ValueError(f"budget must be a Budget or a positive number of seconds, got {budget!r}")
    if not options:
        raise ValueError("options must name at least one option to plan")
    steps = {}
    for name, values in options.items():
        values = list(values)
        if not values:
            raise ValueError(f"option {name!r} has no value to choose from")
        steps[name] = values

    def predicted(position):
        seconds = cost({name: steps[name][i] for name, i in position.items()})
        if not isinstance(seconds, (int, float, np.integer, np.floating)) or not math.isfinite(seconds) \
                or seconds < 0:
            raise ValueError(f"cost must return a finite number of seconds >= 0, got {seconds!r}")
        return float(seconds)

    position = {name: 0 for name in steps}
    current = predicted(position)
    grew = current <= budget_s
    while grew:
        grew = False
        for name in steps:
            if position[name] + 1 < len(steps[name]):
                trial = {**position, name: position[name] + 1}
                seconds = predicted(trial)
                if seconds <= budget_s:
                    position, current, grew = trial, seconds, True
    choice = {name: steps[name][i] for name, i in position.items()}
    return Plan(choice, current, float(budget_s), current <= budget_s, reason,
                largest={name: values[-1] for name, values in steps.items()}, total_s=total)


# ---------------------------------------------------------------------------------------------------------------
# Pre-processing
# ---------------------------------------------------------------------------------------------------------------
