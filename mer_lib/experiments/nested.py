"""Nested validation: each row's recipe chosen on its own training side, never on the test clips.

The library's ``stable`` recipe was designed on the two-stream network with
phase-magnified flow and then applied to every row; the frame-only baselines
underfit under it (the 2-run full run: the frame stream alone reaches UF1 0.56
with the paper's recipe, 0.32 with ``stable``). A fair comparison gives every
model the recipe that suits it, chosen the same way for all and without looking
at the test clips:

1. the fold's training side is split once more, by subject
   (:func:`mer_lib.splits.validation_split` with the subjects): an *inner*
   fitting side and an inner validation side;
2. each recipe of a small declared grid (:data:`NESTED_GRID`) is trained on the
   inner fitting side and scored (UF1) on the inner validation side;
3. the recipe with the highest inner UF1 is the fold's choice (ties: the first
   in the grid's order).

The fold's test score is then the score of that recipe trained on the whole
training side with the fold's seed, which is exactly the run the results
folder holds for that recipe: the summary takes its predictions from there
(:func:`compose_nested`), so the nested choice costs only the inner trainings.
Nothing here receives a test index: :func:`choose_recipe` is given the training
side alone.
"""

from __future__ import annotations

import numpy as np

from mer_lib import evaluate, splits
from mer_lib.errors import UserInputError

__all__ = ["NESTED_GRID", "NESTED", "INNER_FRACTION", "choose_recipe", "compose_nested", "inner_split",
           "inner_score", "choice_of"]

#: The recipes nested validation chooses from (at least the paper's and the library's).
NESTED_GRID = ("paper", "stable")
#: The name under which the chosen recipe's results appear in a results folder.
NESTED = "nested"
#: The share of the training side's subjects held out as the inner validation side.
INNER_FRACTION = 0.25


def choose_recipe(row, frames, flows, labels, subjects, train_index, *, grid=NESTED_GRID, epochs=100, batch_size=8,
                  seed=0, n_classes=3, fraction=INNER_FRACTION, checkpoint_dir=None, verbose=0, cpu_epochs=None):
    """Choose a row's recipe on an inner, subject-disjoint split of its training side.

    Parameters
    ----------
    row : Row
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
    labels, subjects : ndarray, shape (N,)
        Of every clip; only those of ``train_index`` are read.
    train_index : array_like of int
        The fold's training side. The test side is not an argument: nothing
        here can read it.
    grid : sequence of str, default :data:`NESTED_GRID`
        Recipe names (:func:`mer_lib.train.get_recipe`).
    epochs, batch_size, seed, n_classes
        As the outer training (each inner training uses ``seed``).
    fraction : float, default :data:`INNER_FRACTION`
        The share of the training side's subjects held out for inner validation.
    checkpoint_dir : Path, optional
        Inner trainings checkpoint under ``checkpoint_dir / <recipe>``.
    verbose : int
    cpu_epochs : int, optional

    Returns
    -------
    dict
        ``chosen`` (a recipe name), ``grid``, ``metric`` ("uf1"), ``scores``
        (recipe -> inner validation ``uf1``, ``accuracy``, ``final_loss``,
        ``warnings``), ``inner_fit_index`` and ``inner_validation_index``
        (clip indices, both inside ``train_index``), ``fraction``, and
        ``trained_by`` (``trainer``, ``batch_runs``, ``precision`` of the
        inner trainings: what a nested record says of them).

    Raises
    ------
    UserInputError
        An empty grid, or a training side with fewer than 2 subjects.
    """
    from pathlib import Path

    from mer_lib.experiments.folds import _train_fold

    grid = tuple(grid)
    if not grid:
        raise UserInputError("grid: expected at least one recipe name to choose from")
    fit_index, val_index = inner_split(labels, subjects, train_index, seed, fraction)
    scores, trained_by = {}, []
    for name in grid:
        ckpt = None if checkpoint_dir is None else Path(checkpoint_dir) / name
        record = _train_fold(row, name, frames, flows, labels, subjects, fit_index, val_index, epochs=epochs,
                             batch_size=batch_size, seed=seed, n_classes=n_classes, checkpoint_dir=ckpt,
                             verbose=verbose, protocol="loso", cpu_epochs=cpu_epochs)
        scores[name] = inner_score(record, n_classes)
        trained_by.append(record)
    return {**choice_of(grid, scores, fit_index, val_index, fraction), "trained_by": _trained_by(trained_by)}


def inner_split(labels, subjects, train_index, seed, fraction=INNER_FRACTION):
    """The inner split of a fold's training side: whole subjects held out for validation.

    Parameters
    ----------
    labels, subjects : array_like, shape (N,)
        Of every clip.
    train_index : array_like of int, shape (M,)
        The fold's training side.
    seed : int
    fraction : float, default :data:`INNER_FRACTION`

    Returns
    -------
    (ndarray of int, ndarray of int)
        The inner fitting side and the inner validation side, both inside
        ``train_index``.

    Raises
    ------
    UserInputError
        A training side with fewer than 2 subjects.
    """
    train_index = np.asarray(train_index, dtype=int)
    subjects = np.asarray(subjects)
    if len(np.unique(subjects[train_index])) < 2:
        raise UserInputError("nested validation holds out whole subjects: the training side needs at least 2, got "
                             f"{len(np.unique(subjects[train_index]))}")
    return splits.validation_split(train_index, labels, subjects=subjects, fraction=fraction, seed=seed)


def inner_score(record, n_classes):
    """What the choice keeps of one inner training: its validation scores, last loss and warnings.

    Parameters
    ----------
    record : dict
        A fold record (:func:`mer_lib.experiments.fold_record`) of a training
        on the inner fitting side, tested on the inner validation side.
    n_classes : int

    Returns
    -------
    dict
        ``uf1``, ``accuracy``, ``final_loss`` (the mean of the last 5
        epochs' training loss) and ``warnings``.
    """
    y_true, y_pred = np.asarray(record["y_true"]), np.asarray(record["y_pred"])
    losses = record["history"].get("loss", [])
    return {"uf1": evaluate.uf1(y_true, y_pred, n_classes), "accuracy": evaluate.accuracy(y_true, y_pred),
            "final_loss": float(np.mean(losses[-5:])) if losses else float("nan"),
            "warnings": list(record["warnings"])}


def choice_of(grid, scores, fit_index, val_index, fraction=INNER_FRACTION):
    """The recipe of the grid with the highest inner UF1 (ties: the first in the grid's order).

    Parameters
    ----------
    grid : sequence of str
    scores : dict of str to dict
        Recipe -> :func:`inner_score`.
    fit_index, val_index : array_like of int
        The inner split (:func:`inner_split`).
    fraction : float

    Returns
    -------
    dict
        As :func:`choose_recipe` returns it, without ``trained_by``.

    Raises
    ------
    UserInputError
        An empty grid, or a recipe of the grid with no score.

    Examples
    --------
    >>> choice_of(("paper", "stable"), {"paper": {"uf1": 0.5}, "stable": {"uf1": 0.5}}, [0, 1], [2])["chosen"]
    'paper'
    """
    grid = tuple(grid)
    if not grid:
        raise UserInputError("grid: expected at least one recipe name to choose from")
    missing = [name for name in grid if name not in scores]
    if missing:
        raise UserInputError(f"scores: no inner score for the recipe {missing[0]!r} of the grid")
    best = max(scores[name]["uf1"] for name in grid)
    chosen = next(name for name in grid if scores[name]["uf1"] == best)
    return {"chosen": chosen, "grid": list(grid), "metric": "uf1", "scores": {name: scores[name] for name in grid},
            "inner_fit_index": [int(i) for i in fit_index], "inner_validation_index": [int(i) for i in val_index],
            "fraction": float(fraction)}


def _trained_by(records):
    """The trainer, the largest batch and the precision of a choice's inner trainings (a nested record's)."""
    return {"trainer": " and ".join(sorted({r.get("trainer", "keras fit") for r in records})),
            "batch_runs": max((int(r.get("batch_runs", 1)) for r in records), default=1),
            "precision": " and ".join(sorted({str(r.get("precision", "unknown")) for r in records}))}


def compose_nested(records):
    """The fold records of the chosen recipes, relabelled as runs of the recipe :data:`NESTED`.

    Parameters
    ----------
    records : list of dict
        Run records of a results folder: fold records (``recipe`` a recipe
        name) and nested records (``recipe`` :data:`NESTED`, holding
        ``nested["chosen"]``).

    Returns
    -------
    list of dict
        One fold record per nested record: a copy of the chosen recipe's
        record of the same row, protocol, repeat and fold, with ``recipe``
        :data:`NESTED`, ``run`` and ``job`` renamed, and ``chosen`` (the recipe).

    Raises
    ------
    UserInputError
        A nested record whose chosen recipe's fold has no record, or tested
        other clips.
    """
    by_fold = {(r["row_key"], r["recipe"], r["protocol"], r["repeat"], r["fold"]): r for r in records
               if r.get("recipe") != NESTED}
    out = []
    for r in records:
        if r.get("recipe") != NESTED:
            continue
        chosen = r["nested"]["chosen"]
        source = by_fold.get((r["row_key"], chosen, r["protocol"], r["repeat"], r["fold"]))
        if source is None:
            raise UserInputError(f"the nested record {r['job']} chose the recipe {chosen!r}, whose fold "
                                 f"{r['row_key']}__{chosen}__{r['protocol']}__r{r['repeat']}__f{r['fold']} has no "
                                 "record in the folder")
        if "test_index" in r and list(r["test_index"]) != list(source["test_index"]):
            raise UserInputError(f"the nested record {r['job']} and the record of its chosen recipe tested other "
                                 "clips")
        composed = dict(source)
        composed.update({"recipe": NESTED, "run": r["run"], "job": r["job"], "chosen": chosen,
                         "nested": r["nested"]})
        out.append(composed)
    return out
