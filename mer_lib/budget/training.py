"""Training within a budget: what a network costs here, and how many epochs or steps fit."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from mer_lib.budget.core import EPOCH_STEPS, plan


@dataclass(frozen=True)
class TrainingCost:
    """What training a network costs here, measured by :func:`training_cost`.

    Attributes
    ----------
    setup_s : float
        Building and compiling the model, the first optimiser step (traced
        by TensorFlow) and the first prediction.
    step_s : float
        One optimiser step of ``batch_size`` clips.
    predict_s : float
        Predicting one clip, as :func:`mer_lib.train.train` predicts (the
        model called batch by batch: :func:`mer_lib.models.predict`).
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
    Predictions are made as ``train`` makes them (:func:`mer_lib.models.predict`,
    no traced prediction step, no ``tf.data`` pipeline), so the set-up and the
    prediction's cost are those of the run being planned.

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

    from mer_lib.env import tensorflow_log_level
    from mer_lib.models import predict
    from mer_lib.train import compile_with_recipe, get_recipe, set_seeds

    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    labels = np.asarray(labels, dtype=int)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    batch = np.arange(min(batch_size, len(labels)))
    x = {k: v[batch] for k, v in inputs.items()} if isinstance(inputs, dict) else inputs[batch]
    y = keras.utils.to_categorical(labels[batch], n_classes)
    with tensorflow_log_level("ERROR"):     # a new model's functions retrace, as expected: no warning
        t0 = time.perf_counter()
        set_seeds(seed)
        model = compile_with_recipe(build_model(), get_recipe(recipe), max(1, math.ceil(len(labels) / batch_size)),
                                    100, jit_compile=False)
        model.train_on_batch(x, y)
        predict(model, x, batch_size=batch_size)
        setup = time.perf_counter() - t0
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        predict(model, x, batch_size=batch_size)
        predict_s = (time.perf_counter() - t) / len(batch)
    del model
    return TrainingCost(setup, float(np.median(times)), predict_s, int(batch_size), label)


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
        backward pass), the optimiser step (eager too) and a prediction of
        the probe clips.
    """

    label: str
    setup_s: float
    step_s: float

    @classmethod
    def from_cost(cls, label, cost, n_probe):
        """From a :class:`TrainingCost`: the eager gradient and step counted as three compiled steps.

        Measured on a 2-core CPU (two-stream network, batch 8, 12 probe
        clips): a diagnosed step took 3.7 compiled steps at 32 x 32 and 3.6
        at 64 x 64, what this sum gives there. The set-up is the compiled
        step's (its tracing), which the eager diagnosis does not pay: an
        over-estimate.
        """
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
