"""CPU work sized by time: measure what one unit costs here and now, plan what fits a budget, degrade when late.

A chapter that trains on a CPU cannot know in advance how fast the machine
is: a student's laptop, a teaching server, a CI runner shared with other
jobs. So it does not type a number of epochs: it measures (one clip's
pre-processing, a few optimiser steps of each network), asks a planner for the
largest run that fits its time budget, prints the plan and the measurements
behind it, runs it, and, if the machine slows down on the way, runs a smaller
plan and says so.

- :class:`Budget`: seconds from now; what is left. :func:`budget_seconds`
  scales a chapter's budget by ``MER_BUDGET_SCALE`` (a reader with time to
  spare sets 4 and gets a run four times larger); :data:`BOOK_BUDGETS` holds
  the budgets of the book's planned cells, :func:`book_budget` starts one.
- :func:`plan`: the general planner. Options (epochs, folds, rows, repeats...)
  grow in turns, each by one step while the predicted cost still fits; the
  result is a :class:`Plan` that says what it chose and why. It never returns
  an empty plan: when even the smallest one does not fit, it returns the
  smallest, marked ``fits=False``.
- Measurements: :func:`clip_seconds` (pre-processing one clip) and
  :func:`training_cost` (a network's set-up, one optimiser step, one
  prediction), giving a :class:`TrainingCost`.
- Plans and runs for the book's chapters: :func:`preprocess_within` (as many
  clips as fit, in :func:`stratified_order`), :func:`plan_steps` (the first
  optimiser steps diagnosed, chapter 10), :func:`plan_training` and
  :func:`train_within` (runs of one network, chapter 10; :func:`run_within`
  for any count),
  :func:`plan_reproduction` and :func:`reproduce_within` (a small
  :func:`mer_lib.experiments.reproduce`, chapter 11). The runners re-measure
  as they go (the ratio of the time a run took to the time predicted for it
  scales the rest) and, when the rest no longer fits, shrink it: the plan they
  return is then marked ``degraded``, with the reason.

A plan is sized for a budget well below the book's cell timeout (1200 s in
``_config.yml``): a planned cell's budget is an eighth of it or less, so that
a machine twice as slow as measured still ends the cell below a third of it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["Budget", "budget_seconds", "book_budget", "BOOK_BUDGETS", "Plan", "plan", "stratified_order",
           "clip_seconds", "preprocess_within",
           "TrainingCost", "training_cost", "TrainingRun", "plan_training", "train_within", "run_within",
           "StepRun", "plan_steps", "STEP_CHOICES", "plan_reproduction",
           "RowCosts", "reproduction_costs", "reproduce_within", "EPOCH_STEPS", "BUDGET_SCALE_VARIABLE"]

#: The environment variable that scales every chapter's time budget (default 1).
BUDGET_SCALE_VARIABLE = "MER_BUDGET_SCALE"
#: Epoch counts a plan chooses from (the paper's 100 at most).
EPOCH_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 80, 100)
#: Start-up of a pool of pre-processing processes (spawned, each importing the library), in seconds.
POOL_START_S = 4.0
#: The book's planned cells and their budgets in seconds, (full mode, fast mode): the one place to retune the
#: CPU time of a build. The book must build in 20 minutes on an idle 2-core machine, 30 beside two busy
#: processes, with no cell above a third of the 1200 s cell timeout (issue 20); the other chapters take about
#: ten minutes of the twenty (benchmarks/results/book-build.json has the last measured build).
BOOK_BUDGETS = {
    "pre-processing": (120.0, 120.0),        # chapters 10 and 11 (chapter 11 reads what chapter 10 cached)
    "first steps, chapter 10": (60.0, 60.0),  # the diagnosis of both recipes' first steps
    "training, chapter 10": (120.0, 90.0),   # both recipes
    "training, chapter 11": (150.0, 90.0),   # the short reproduction
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

def stratified_order(labels, groups=None, seed=0):
    """An order of the clips in which every prefix keeps the classes' proportions and spreads the groups.

    Position by position, the next clip comes from the class furthest below
    its share of the clips so far; within a class, the clips go round the
    groups (subjects), in an order drawn with ``seed``. The first n clips of
    the order are then a stratified subset of any size n.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    groups : array_like, shape (N,), optional
        Subjects.
    seed : int

    Returns
    -------
    ndarray of int, shape (N,)
        A permutation of 0 .. N - 1.

    Examples
    --------
    >>> order = stratified_order([0, 0, 0, 0, 1, 1])
    >>> sorted(order.tolist()), [int(x >= 4) for x in order[:3]]     # 2 of class 0 for 1 of class 1
    ([0, 1, 2, 3, 4, 5], [0, 0, 1])
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    groups = np.zeros(len(labels), int) if groups is None else np.asarray(groups)
    if groups.shape != labels.shape:
        raise ValueError(f"groups ({groups.shape}) must match labels ({labels.shape})")
    rng = np.random.default_rng(seed)
    queues = {}
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        seen = {}
        rank = []
        for i in members:          # the k-th clip of its group within the class: groups go round
            key = groups[i].item() if hasattr(groups[i], "item") else groups[i]
            rank.append(seen.get(key, 0))
            seen[key] = seen.get(key, 0) + 1
        queues[c.item()] = list(members[np.argsort(rank, kind="stable")])
    totals = {c: len(q) for c, q in queues.items()}
    taken = {c: 0 for c in queues}
    order = []
    for _ in range(len(labels)):
        c = min((c for c in queues if taken[c] < totals[c]), key=lambda c: ((taken[c] + 1) / totals[c], c))
        order.append(queues[c][taken[c]])
        taken[c] += 1
    return np.asarray(order, dtype=int)


def clip_seconds(clip, apex=None, **settings):
    """Seconds to pre-process one clip here and now, as one pre-processing process does (one thread).

    Parameters
    ----------
    clip : ndarray, shape (T, H, W)
    apex : int, optional
    **settings
        As :func:`mer_lib.pipeline.process_clip` takes them.

    Returns
    -------
    float
    """
    from mer_lib.env import bounded_threads
    from mer_lib.pipeline import process_clip

    with bounded_threads(fft=1, opencv=1, blas=1):
        t0 = time.perf_counter()
        process_clip(clip, apex, **settings)
        return time.perf_counter() - t0


def preprocess_within(budget, clips, *, order, apex=None, minimum=1, cache_dir=None, n_jobs=None, progress=True,
                      **settings):
    """Pre-process as many clips as fit the budget, taken in ``order``; the rest are left out, and said so.

    Measures one clip (:func:`clip_seconds`), plans how many clips the
    processes can do in the budget, and pre-processes them in two calls of
    :func:`mer_lib.pipeline.preprocess`; the second is shrunk if the first
    went slower than planned. Clips already in ``cache_dir`` cost almost
    nothing, so a second run of a chapter is quick.

    Parameters
    ----------
    budget : Budget
    clips : SynthME, or ndarray of shape (N, T, H, W)
    order : array_like of int, shape (N,)
        The clips by priority (:func:`stratified_order`): a prefix is kept.
    apex : array_like of int, shape (N,), optional
        Taken from a SynthME dataset when omitted.
    minimum : int
        Clips to pre-process even over budget (the plan then says so); the
        second call never goes below it either.
    cache_dir, n_jobs, progress
        As for :func:`mer_lib.pipeline.preprocess` (``n_jobs`` default: the
        thread context's process count).
    **settings
        ``magnify``, ``alpha``, ``flow``, ``size``... as for
        :func:`mer_lib.pipeline.preprocess`.

    Returns
    -------
    index : ndarray of int, shape (n,)
        The clips pre-processed, in increasing order.
    inputs : NetworkInputs
        Their network inputs, in the order of ``index``.
    plan : Plan
        ``choice["clips"]`` is n.
    """
    from mer_lib.env import current_threads
    from mer_lib.pipeline import preprocess

    frames = np.asarray(clips.frames) if hasattr(clips, "frames") else np.asarray(clips)
    if apex is None and hasattr(clips, "apex"):
        apex = clips.apex
    apex = None if apex is None else np.asarray(apex)
    order = np.asarray(order, dtype=int)
    n_all = len(frames)
    if sorted(order.tolist()) != list(range(n_all)):
        raise ValueError(f"order must be a permutation of the {n_all} clips' indices")
    if not 1 <= minimum <= n_all:
        raise ValueError(f"minimum must be between 1 and the {n_all} clips, got {minimum!r}")
    processes = current_threads().processes if n_jobs is None else int(n_jobs)
    first = int(order[0])
    per_clip = clip_seconds(frames[first], None if apex is None else int(apex[first]), **settings)
    # processes share the cores: at most as many at once as there are, and never perfectly
    workers = max(1, min(processes, current_threads().cores))
    rate = workers * 0.85 / per_clip if workers > 1 else 1.0 / per_clip
    start = POOL_START_S if workers > 1 else 0.0

    def cost(choice):
        return start + choice["clips"] / rate

    counts = sorted({minimum, n_all} | {n for n in range(minimum, n_all + 1, max(1, n_all // 40))})
    chosen = plan(budget, cost, {"clips": counts},
                  reason=f"one clip took {per_clip:.1f} s on one thread here; {workers} process"
                         f"{'es' if workers > 1 else ''} at once")
    n = chosen["clips"]
    common = dict(cache_dir=cache_dir, n_jobs=n_jobs, progress=progress, **settings)
    half = n if n <= 2 * workers else (n + 1) // 2
    t0 = budget.clock()
    parts = [preprocess(frames[order[:half]], apex=None if apex is None else apex[order[:half]], **common)]
    done = half
    if done < n:
        # cached clips make the first half quick: the second is predicted at the slower of its rate and
        # the measured one (so it never grows, and a cached first half does not hide a slow machine)
        measured = (budget.clock() - t0) / half
        per = max(measured, 1.0 / rate)
        still = max(int(min(n - done, max(0.0, budget.left() - start) / per)), minimum - done)
        if still < n - done:
            chosen = chosen.with_note(f"the first {done} clips took {measured:.1f} s a clip (planned: "
                                      f"{1 / rate:.1f}); {max(budget.left(), 0):.0f} s were left: "
                                      f"{done + still} clips instead of {n}", degraded=True, clips=done + still)
        if still > 0:
            part = order[done:done + still]
            parts.append(preprocess(frames[part], apex=None if apex is None else apex[part], **common))
            done += still
    taken = order[:done]
    inputs = parts[0] if len(parts) == 1 else type(parts[0])(
        np.concatenate([p.frames for p in parts]), np.concatenate([p.flow for p in parts]), parts[0].settings)
    sort = np.argsort(taken, kind="stable")
    inputs = type(inputs)(inputs.frames[sort], inputs.flow[sort], inputs.settings)
    return taken[sort], inputs, chosen


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingCost:
    """What training a network costs here, measured by :func:`training_cost`.

    Attributes
    ----------
    setup_s : float
        Building and compiling the model, the first optimiser step and the
        first prediction (both traced by TensorFlow).
    step_s : float
        One optimiser step of ``batch_size`` clips.
    predict_s : float
        Predicting one clip.
    batch_size : int
    label : str
    """

    setup_s: float
    step_s: float
    predict_s: float
    batch_size: int = 8
    label: str = ""

    def run_seconds(self, n_train, epochs, n_predict=0, n_validation=0):
        """Predicted seconds of one training run.

        Parameters
        ----------
        n_train : int
            Training clips (``ceil(n_train / batch_size)`` steps an epoch).
        epochs : int
        n_predict : int
            Clips predicted once (the loss at initialisation, the final
            check, the test clips).
        n_validation : int
            Clips predicted after every epoch.

        Returns
        -------
        float
        """
        steps = math.ceil(n_train / self.batch_size)
        return (self.setup_s + epochs * (steps * self.step_s + n_validation * self.predict_s)
                + n_predict * self.predict_s)

    def describe(self):
        return (f"{self.label + ': ' if self.label else ''}set-up {self.setup_s:.1f} s, one step of "
                f"{self.batch_size} clips {self.step_s:.2f} s, one prediction {1000 * self.predict_s:.0f} ms")


def training_cost(build_model, inputs, labels, *, recipe="stable", n_classes=3, batch_size=8, steps=3, seed=0,
                  label=""):
    """Measure a network's training cost here and now: set-up, one optimiser step, one prediction.

    Builds and compiles the model as :func:`mer_lib.train.train` does (no
    XLA, float32: the CPU settings), takes one step (traced: part of the
    set-up), then ``steps`` more, timed; the median is the step's cost.

    Parameters
    ----------
    build_model : callable
        ``build_model() -> keras.Model``, as for :func:`mer_lib.train.train`.
    inputs : ndarray or dict of ndarray, N examples first
        At least ``batch_size`` examples are used when there are.
    labels : array_like of int, shape (N,)
    recipe : str or Recipe
    n_classes, batch_size, seed : int
    steps : int
        Steps timed after the first.
    label : str

    Returns
    -------
    TrainingCost
    """
    import keras

    from mer_lib.train import compile_with_recipe, get_recipe, set_seeds

    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    labels = np.asarray(labels, dtype=int)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    batch = np.arange(min(batch_size, len(labels)))
    x = {k: v[batch] for k, v in inputs.items()} if isinstance(inputs, dict) else inputs[batch]
    y = keras.utils.to_categorical(labels[batch], n_classes)
    t0 = time.perf_counter()
    set_seeds(seed)
    model = compile_with_recipe(build_model(), get_recipe(recipe), max(1, math.ceil(len(labels) / batch_size)),
                                100, jit_compile=False)
    model.train_on_batch(x, y)
    model.predict(x, batch_size=batch_size, verbose=0)
    setup = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    model.predict(x, batch_size=batch_size, verbose=0)
    predict = (time.perf_counter() - t) / len(batch)
    del model
    return TrainingCost(setup, float(np.median(times)), predict, int(batch_size), label)


@dataclass(frozen=True)
class TrainingRun:
    """One training run to plan: its label, its measured cost and its size.

    Attributes
    ----------
    label : str
    cost : TrainingCost
    n_train : int
        Training clips.
    n_predict : int
        Clips predicted once (the loss at initialisation and the final check
        of :func:`mer_lib.train.train` predict the training clips: 2 x n_train).
    n_validation : int
        Clips predicted after every epoch.
    """

    label: str
    cost: TrainingCost
    n_train: int
    n_predict: int = 0
    n_validation: int = 0

    def seconds(self, epochs):
        """Predicted seconds with ``epochs`` epochs."""
        return self.cost.run_seconds(self.n_train, epochs, self.n_predict, self.n_validation)


def plan_training(budget, runs, epochs=EPOCH_STEPS):
    """The number of epochs that lets every run fit the budget (the same for all).

    Parameters
    ----------
    budget : Budget or float
        A budget (what is left of it is planned) or seconds.
    runs : sequence of TrainingRun
    epochs : sequence of int
        Candidates, smallest first.

    Returns
    -------
    Plan
        ``choice["epochs"]``.

    Examples
    --------
    >>> cost = TrainingCost(setup_s=10, step_s=0.5, predict_s=0.01)
    >>> runs = [TrainingRun("paper", cost, 100), TrainingRun("stable", cost, 100)]
    >>> plan_training(200, runs).choice            # 2 x (10 + 13 steps x 0.5 s x epochs) <= 200
    {'epochs': 12}
    """
    runs = list(runs)
    if not runs:
        raise ValueError("runs must hold at least one run to plan")
    measured = "; ".join(dict.fromkeys(run.cost.describe() for run in runs))     # each cost once
    return _plan_count(budget, runs, "epochs", epochs,
                       f"{len(runs)} run{'s' if len(runs) != 1 else ''} of {runs[0].n_train} training clips; "
                       f"measured here: {measured}")


def _plan_count(budget, runs, option, values, reason):
    """One count (epochs, steps...) for every run, the largest that lets them all fit."""
    def cost(choice):
        return sum(run.seconds(choice[option]) for run in runs)

    return plan(budget, cost, {option: values}, reason=reason)


def run_within(budget, planned, runs, run, option="epochs", values=EPOCH_STEPS):
    """Run runs in turn with the plan's count; give a later run a smaller one if the runs before were late.

    After each run the ratio of its time to its prediction (at least 1: a
    run resumed from a checkpoint takes no time) scales the predictions of
    the rest. A later run that would no longer fit what is left of the
    budget gets the largest of ``values`` that does fit (at least the
    smallest), and the plan returned is marked degraded. The first run always
    has the plan's count.

    Parameters
    ----------
    budget : Budget
    planned : Plan
        ``choice[option]`` is the count planned.
    runs : sequence
        Items with a ``label`` and ``seconds(count)`` (:class:`TrainingRun`,
        :class:`StepRun`).
    run : callable
        ``run(label, count)`` does the work and returns its result.
    option : str
        The count's name in the plan.
    values : sequence of int
        The counts a degraded run may take, smallest first.

    Returns
    -------
    results : dict
        Label -> what ``run`` returned.
    plan : Plan
        The plan as run: ``choice[option + "_run"]`` maps each label to its count.
    """
    results, counts, factor = {}, {}, 1.0
    target = int(planned[option])
    result_plan = planned
    for item in runs:
        count = target
        if results and factor * item.seconds(count) > budget.left():
            fitting = [v for v in values if v < target and factor * item.seconds(v) <= budget.left()]
            count = max(fitting) if fitting else min(min(values), target)
            if count < target:
                result_plan = result_plan.with_note(
                    f"{item.label}: {count} {option} instead of {target}: the runs before took {factor:.1f} times "
                    f"their prediction, and {max(budget.left(), 0):.0f} s were left", degraded=True)
        t0 = budget.clock()
        results[item.label] = run(item.label, count)
        factor = max(factor, (budget.clock() - t0) / max(item.seconds(count), 1e-9))
        counts[item.label] = count
    return results, result_plan.with_note(
        f"ran in {budget.elapsed():.0f} s of the {budget.seconds:.0f} s budget", **{f"{option}_run": counts})


def train_within(budget, training_plan, runs, run):
    """:func:`run_within` for training runs: the plan's epochs, fewer for a later run if the earlier ran late.

    Parameters
    ----------
    budget : Budget
    training_plan : Plan
        From :func:`plan_training` (``choice["epochs"]``).
    runs : sequence of TrainingRun
    run : callable
        ``run(label, epochs)`` trains and returns its result.

    Returns
    -------
    results : dict
        Label -> what ``run`` returned.
    plan : Plan
        The plan as run: ``choice["epochs_run"]`` maps each label to its epochs.
    """
    return run_within(budget, training_plan, runs, run, "epochs", EPOCH_STEPS)


#: Optimiser steps that :func:`plan_steps` chooses from (chapter 10's first-steps diagnosis).
STEP_CHOICES = (2, 3, 4, 5, 6, 8, 10, 12, 17)


@dataclass(frozen=True)
class StepRun:
    """A run of :func:`mer_lib.diagnostics.step_diagnostics` to plan: set-up, then each step's cost.

    Attributes
    ----------
    label : str
    setup_s : float
    step_s : float
        One step of the diagnosis: the gradient (an eager forward and
        backward pass), the optimiser step and a prediction of the probe clips.
    """

    label: str
    setup_s: float
    step_s: float

    @classmethod
    def from_cost(cls, label, cost, n_probe):
        """From a :class:`TrainingCost`: the eager gradient counted as two compiled steps."""
        return cls(label, cost.setup_s, 3 * cost.step_s + n_probe * cost.predict_s)

    def seconds(self, steps):
        """Predicted seconds with ``steps`` steps (and the measurement before the first)."""
        return self.setup_s + (steps + 1) * self.step_s


def plan_steps(budget, runs, steps=STEP_CHOICES):
    """The number of first optimiser steps to diagnose in every run (the same for all) that fits the budget.

    Parameters
    ----------
    budget : Budget or float
    runs : sequence of StepRun
    steps : sequence of int
        Candidates, smallest first.

    Returns
    -------
    Plan
        ``choice["steps"]``.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("runs must hold at least one run to plan")
    measured = "; ".join(f"{r.label}: set-up {r.setup_s:.1f} s, a diagnosed step {r.step_s:.1f} s" for r in runs)
    return _plan_count(budget, runs, "steps", steps, f"measured here: {measured}")


# ---------------------------------------------------------------------------------------------------------------
# A small reproduction (chapter 11)
# ---------------------------------------------------------------------------------------------------------------

def _reproduction_seconds(costs, rows, n_clips, epochs, repeats, n_folds, test_fraction=0.2):
    """Predicted seconds of reproduce(): `repeats` paper-split runs and `n_folds` subject folds per row."""
    total = 0.0
    n_test = max(1, round(test_fraction * n_clips))
    for row in rows:
        c = costs[row]
        total += repeats * c.run_seconds(n_clips - n_test, epochs, 2 * (n_clips - n_test) + n_test)
        if n_folds:
            fold_test = n_clips / n_folds
            total += n_folds * c.run_seconds(n_clips - fold_test, epochs, 2 * (n_clips - fold_test) + fold_test)
    return total


class RowCosts(Mapping):
    """The training cost of each row of a reproduction, measured when first asked for (row key -> TrainingCost).

    Made by :func:`reproduction_costs`. :func:`plan_reproduction` asks for a
    row's cost only when that row could still fit the budget, so a tight
    budget is not spent measuring rows it cannot run.
    """

    def __init__(self, rows, measure):
        self._rows = {row.key: row for row in rows}
        self._measure = measure
        self._costs = {}

    def __getitem__(self, key):
        if key not in self._costs:
            if key not in self._rows:
                raise KeyError(key)
            self._costs[key] = self._measure(self._rows[key])
        return self._costs[key]

    def __contains__(self, key):        # without measuring it
        return key in self._rows

    def __iter__(self):
        return iter(self._rows)

    def __len__(self):
        return len(self._rows)

    def measured(self):
        """The keys measured so far, in the order measured."""
        return list(self._costs)


def reproduction_costs(rows, frames, flows, labels, *, recipe="stable", n_classes=3, batch_size=8, steps=3):
    """The training cost of each row of a reproduction (:func:`training_cost`), measured when first asked for.

    Parameters
    ----------
    rows : sequence of Row
        Rows of :mod:`mer_lib.experiments` (each measured with its own model and inputs).
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
    labels : array_like of int, shape (N,)
    recipe : str or Recipe
    n_classes, batch_size, steps : int

    Returns
    -------
    RowCosts
        Row key -> :class:`TrainingCost`, a mapping that measures a row on first access.
    """
    from mer_lib import experiments as ex
    from mer_lib.train import get_recipe

    recipe = get_recipe(recipe)
    labels = np.asarray(labels, dtype=int)
    index = np.arange(min(batch_size, len(labels)))

    def measure(row):
        flow_shape = None if row.flow_input is None else flows[row.flow_input].shape[1:]
        build_model = ex.build(row.model, frames.shape[1:], flow_shape, n_classes, recipe.normalization)
        return training_cost(build_model, ex.row_inputs(row, frames, flows, index), labels[index], recipe=recipe,
                             n_classes=n_classes, batch_size=batch_size, steps=steps, label=row.label)

    return RowCosts(rows, measure)


def plan_reproduction(budget, costs, n_clips, *, rows, min_rows=2, epochs=EPOCH_STEPS, n_folds=(2, 3, 5),
                      repeats=(1, 2, 3, 5)):
    """How much of a reproduction fits the budget: rows, epochs, subject folds and repeats.

    Options grow in this order of importance: the rows (the comparison's
    point), the epochs, the subject-disjoint folds, the repeats of the
    paper's split. Every row runs under both protocols. The first
    ``min_rows`` rows' costs are read (measured, from a :class:`RowCosts`);
    each further row's only if a plan counting it at the cost of the
    costliest row read so far would take it: the rows that cannot fit are
    never measured.

    Parameters
    ----------
    budget : Budget or float
        A budget (what is left of it is planned, after the measurements) or seconds.
    costs : mapping
        Row key -> :class:`TrainingCost` (a dict, or a :class:`RowCosts` from
        :func:`reproduction_costs`).
    n_clips : int
    rows : sequence
        Row keys, most important first (all in ``costs``).
    min_rows : int
        Rows in the smallest plan.
    epochs, n_folds, repeats : sequence of int
        Candidates, smallest first.

    Returns
    -------
    Plan
        ``choice``: ``rows`` (the keys), ``epochs``, ``n_folds``, ``repeats``.

    Examples
    --------
    >>> costs = {"a": TrainingCost(5, 0.5, 0.01), "b": TrainingCost(3, 0.2, 0.01), "c": TrainingCost(3, 0.2, 0.01)}
    >>> plan_reproduction(200, costs, 60, rows=["a", "b", "c"]).choice
    {'rows': ('a', 'b', 'c'), 'epochs': 3, 'n_folds': 3, 'repeats': 3}
    """
    rows = list(rows)
    missing = [r for r in rows if r not in costs]
    if missing:
        raise ValueError(f"no measured cost for row {missing[0]!r}")
    if not 1 <= min_rows <= len(rows):
        raise ValueError(f"min_rows must be between 1 and the {len(rows)} rows, got {min_rows!r}")
    if not all(int(k) >= 2 for k in n_folds):
        raise ValueError(f"subject-disjoint folds must number at least 2, got {list(n_folds)}")
    options = {"epochs": epochs, "n_folds": n_folds, "repeats": repeats}

    def planned(known, candidates):
        def cost(choice):
            return _reproduction_seconds(known, choice["rows"], n_clips, choice["epochs"], choice["repeats"],
                                         choice["n_folds"])
        return plan(budget, cost, {"rows": [tuple(rows[:k]) for k in candidates], **options})

    known = {r: costs[r] for r in rows[:min_rows]}
    while len(known) < len(rows):
        nxt = rows[len(known)]
        costliest = max(known.values(), key=lambda c: (c.step_s, c.setup_s))
        if len(planned({**known, nxt: costliest}, range(min_rows, len(known) + 2))["rows"]) <= len(known):
            break                              # not even at a known row's cost: not worth measuring
        known[nxt] = costs[nxt]
    result = planned(known, range(min_rows, len(known) + 1))
    measured = "; ".join(known[r].describe() for r in known)
    left_out = rows[len(known):]
    return dataclasses.replace(
        result, largest={**result.largest, "rows": tuple(rows)},
        reason=f"{n_clips} clips; every row under the paper's split and subject-disjoint folds; measured here: "
               f"{measured}" + (f"; not measured (no time for them): {', '.join(left_out)}" if left_out else ""))


def reproduce_within(budget, reproduction_plan, costs, out, frames, flows, labels, subjects, *, rows, **kwargs):
    """Run a planned reproduction in stages, each only if it still fits; return the last stage's tables.

    Stages: (1) every planned row once under the paper's split; (2) the
    subject-disjoint folds; (3) the further repeats of the paper's split.
    Each stage is a call of :func:`mer_lib.experiments.reproduce` on the same
    folder (the runs of the stages before are read, not retrained). Before a
    stage, its prediction is scaled by how late the stages before ran; a
    stage that no longer fits is left out, and the plan returned says so
    (``degraded``). The first stage always runs.

    Parameters
    ----------
    budget : Budget
    reproduction_plan : Plan
        From :func:`plan_reproduction`.
    costs : dict
        Row key -> :class:`TrainingCost` (as planned with).
    out : str or Path
        A folder for results folders: the plan's goes in a subfolder named by
        what fixes its runs (clips, epochs, folds), so that a later plan never
        reads another plan's runs.
    frames, flows, labels, subjects
        As for :func:`mer_lib.experiments.reproduce`.
    rows : sequence of Row
        The rows to choose from (the plan's keys select among them).
    **kwargs
        Passed to :func:`mer_lib.experiments.reproduce` (``recipes``,
        ``class_names``, ``workers``, ``command``...).

    Returns
    -------
    tables : pandas.DataFrame
        The summary table of the last stage run.
    plan : Plan
        The plan as run: ``choice["stages"]`` lists the stages run and
        ``choice["folder"]`` is the results folder.
    """
    from pathlib import Path

    from mer_lib import experiments as ex

    choice = reproduction_plan.choice
    chosen_rows = [r for r in rows if r.key in choice["rows"]]
    if len(chosen_rows) != len(choice["rows"]):
        raise ValueError(f"the plan's rows {list(choice['rows'])} are not all among the rows given")
    keys = [r.key for r in chosen_rows]
    n, epochs, n_folds, repeats = len(labels), int(choice["epochs"]), int(choice["n_folds"]), int(choice["repeats"])
    folder = Path(out) / f"{n}clips-{epochs}epochs-{n_folds}folds"
    stages = [("the paper's split, once", ("paper",), 1, 0),
              (f"{n_folds} subject-disjoint folds", ("paper", "loso"), 1, n_folds)]
    if repeats > 1:
        stages.append((f"{repeats} runs of the paper's split", ("paper", "loso"), repeats, n_folds))
    tables, ran, result_plan, predicted_done = None, [], reproduction_plan, 0.0
    for name, protocols, stage_repeats, stage_folds in stages:
        total = _reproduction_seconds(costs, keys, n, epochs, stage_repeats, stage_folds)
        # how late the stages so far ran (never read as early: cached runs take no time)
        factor = max(1.0, budget.elapsed() / predicted_done) if predicted_done else 1.0
        predicted = factor * (total - predicted_done)
        if ran and predicted > budget.left():
            result_plan = result_plan.with_note(
                f"left out: {name} (predicted {predicted:.0f} s with {max(budget.left(), 0):.0f} s left; the "
                f"stages before took {factor:.1f} times their prediction)", degraded=True)
            break
        tables = ex.reproduce(folder, frames, flows, labels, subjects, rows=chosen_rows, epochs=epochs,
                              protocols=protocols, repeats=stage_repeats, loso_seeds=1,
                              n_folds=stage_folds or None, **kwargs)
        predicted_done = total
        ran.append(name)
    return tables, result_plan.with_note(f"ran {'; '.join(ran)} in {budget.elapsed():.0f} s of the "
                                         f"{budget.seconds:.0f} s budget", stages=ran, folder=str(folder))
