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

from mer_lib.budget.core import (Budget, budget_seconds, book_budget, BOOK_BUDGETS, Plan, plan, EPOCH_STEPS,
    BUDGET_SCALE_VARIABLE)
from mer_lib.budget.clips import (stratified_order, clip_seconds, preprocess_within)
from mer_lib.budget.training import (TrainingCost, training_cost, TrainingRun, plan_training, train_within,
    run_within, StepRun, plan_steps, STEP_CHOICES)
from mer_lib.budget.reproduction import (plan_reproduction, RowCosts, reproduction_costs, reproduce_within)

__all__ = ["Budget", "budget_seconds", "book_budget", "BOOK_BUDGETS", "Plan", "plan", "stratified_order",
           "clip_seconds", "preprocess_within",
           "TrainingCost", "training_cost", "TrainingRun", "plan_training", "train_within", "run_within",
           "StepRun", "plan_steps", "STEP_CHOICES", "plan_reproduction",
           "RowCosts", "reproduction_costs", "reproduce_within", "EPOCH_STEPS", "BUDGET_SCALE_VARIABLE"]
