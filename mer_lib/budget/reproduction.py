"""A reproduction within a budget: which rows, folds and repeats of chapter 11's experiment fit."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from mer_lib.budget.core import EPOCH_STEPS, plan
from mer_lib.budget.training import training_cost


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
    >>> from mer_lib.budget import TrainingCost
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
