"""The controls that answer the full run's open questions, the whole plan ``mer reproduce --all`` runs, and its cost.

The 2-run full run (``book/results/full``) left questions that its rows could
not answer; each control below is a set of rows or a recipe that answers one:

- **does magnification help?** (:data:`ALPHA_SWEEP`) On SynthME the
  phase-magnified flow did worse than unmagnified flow, the reverse of the
  paper's Table 4; chapter 7 computes that at alpha = 20 some pyramid scales
  exceed the phase-magnification bound for SynthME's motion. The sweep trains
  the flow stream alone and the two-stream network on PBVM flow at
  alpha in {5, 10, 20, 40} beside unmagnified flow
  (:func:`mer_lib.magnify.phase_bound` gives the bound per alpha);
- **Table 4 with the architecture held fixed** (:data:`FIXED_ARCHITECTURE`):
  one stream of the two-stream network alone, on frames, on unmagnified flow
  and on PBVM flow (the paper's Table 4 compares a single-stream network on
  frames with the two-stream network on flow);
- **is the collapse the recipe's or the precision's?**
  (:data:`PRECISION_CONTROL`) every paper-recipe two-stream run of the full run
  collapsed under mixed precision (a GPU's default), while the same recipe in
  float32 on a CPU memorised instead: the paper's recipe in float32 on the
  same seeds (the recipe ``"paper-float32"`` of
  :data:`mer_lib.train.CONTROL_RECIPES`);
- **fair baselines**: every row under both recipes and under the recipe nested
  validation chooses for it (:mod:`mer_lib.experiments.nested`).

:data:`FULL_PLAN` is what ``mer reproduce --all`` runs; :func:`count_trainings`
says how many trainings a plan needs, so that its cost stays visible.
"""

from __future__ import annotations

from mer_lib.errors import UserInputError
from mer_lib.experiments.nested import NESTED_GRID
from mer_lib.experiments.rows import CONTROLS, FULL_ROWS, Row, unique_rows

__all__ = ["ALPHAS", "ALPHA_SWEEP", "FIXED_ARCHITECTURE", "PRECISION_CONTROL", "PLAN_ROWS", "FULL_PLAN",
           "count_trainings", "alpha_of"]

#: The magnification factors of the sweep (the paper's is 20).
ALPHAS = (5.0, 10.0, 20.0, 40.0)


def _kind(alpha):
    """The flow input of phase magnification at ``alpha`` (:data:`mer_lib.pipeline.INPUT_SETTINGS`)."""
    return "pbvm" if alpha == 20.0 else f"pbvm{alpha:g}"


def alpha_of(flow_input):
    """The magnification factor of a flow input: 0 for unmagnified flow, None for another kind.

    Examples
    --------
    >>> alpha_of("pbvm"), alpha_of("pbvm5"), alpha_of("flow"), alpha_of("evm")
    (20.0, 5.0, 0.0, None)
    """
    from mer_lib.pipeline import INPUT_SETTINGS

    if flow_input == "flow":
        return 0.0
    setting = INPUT_SETTINGS.get(flow_input)
    return float(setting[1]) if setting is not None and setting[0] == "phase" else None


#: Table 4 with one architecture: a stream of the two-stream network alone on frames, on unmagnified flow and on
#: PBVM flow.
FIXED_ARCHITECTURE = (CONTROLS[1], Row("Flow stream alone (optical flow)", "flow_stream", "flow"), CONTROLS[2])

#: PBVM at each alpha of :data:`ALPHAS`, with the flow stream alone and with the two-stream network (alpha 20 is
#: the rows "Flow stream alone (PBVM)" and "Our method").
ALPHA_SWEEP = tuple(
    Row(f"Flow stream alone (PBVM, alpha {a:g})", "flow_stream", _kind(a)) if a != 20.0 else CONTROLS[2]
    for a in ALPHAS) + tuple(
    Row(f"Two-stream (PBVM, alpha {a:g})", "two_stream", _kind(a)) if a != 20.0 else FULL_ROWS[2]
    for a in ALPHAS)

#: What ``mer reproduce --all`` runs: Tables 3 and 4, the controls of the full run, the architecture held fixed
#: and the alpha sweep (each model-and-input once).
PLAN_ROWS = unique_rows(FULL_ROWS + FIXED_ARCHITECTURE + ALPHA_SWEEP)

#: The precision control: the recipe and the rows it is run for (the rows of the full run).
PRECISION_CONTROL = {"paper-float32": tuple(r.key for r in FULL_ROWS)}

#: The whole plan of ``mer reproduce --all``: 10 random splits and leave-one-subject-out (one fold per subject),
#: both recipes for every row, nested recipe choice, the precision control under the paper's split.
FULL_PLAN = {"rows": PLAN_ROWS, "recipes": ("paper", "stable", "paper-float32"), "protocols": ("paper", "loso"),
             "repeats": 10, "loso_seeds": 1, "n_folds": None, "loso_recipes": ("paper", "stable"),
             "recipe_rows": PRECISION_CONTROL, "nested": NESTED_GRID}


def count_trainings(plan, n_subjects):
    """How many trainings a plan needs, by protocol and kind, so that its cost can be stated before it runs.

    Parameters
    ----------
    plan : dict
        Keys as :func:`mer_lib.experiments.reproduce` takes them: ``rows``
        (Rows or keys), ``recipes``, ``protocols``, ``repeats``,
        ``loso_seeds``, ``n_folds``, and optionally ``loso_rows``,
        ``loso_recipes``, ``recipe_rows`` and ``nested`` (a grid of recipe
        names, or None).
    n_subjects : int
        Subjects of the dataset (the folds of leave-one-subject-out).

    Returns
    -------
    dict
        ``by_part`` (a dict: "<protocol>, <recipe>" and "<protocol>, nested
        choice" -> trainings), ``recipes`` (outer trainings, each recipe's run
        of every fold), ``nested`` (the inner trainings of the nested choice:
        one per grid recipe and fold; the chosen recipe's outer run is one of
        the recipes' own), ``total``.

    Examples
    --------
    >>> plan = dict(rows=["two_stream-pbvm", "cnn_rnn-frames"], recipes=("paper", "stable"), protocols=("paper",),
    ...             repeats=10, loso_seeds=1, n_folds=None, nested=("paper", "stable"))
    >>> count_trainings(plan, 22)["total"]        # 2 rows x 10 splits x (2 recipes + 2 inner trainings)
    80
    """
    if int(n_subjects) < 2:
        raise UserInputError(f"n_subjects: expected at least 2, got {n_subjects!r}")
    keys = [r.key if isinstance(r, Row) else r for r in plan["rows"]]
    recipe_rows = plan.get("recipe_rows") or {}
    grid = tuple(plan.get("nested") or ())
    by_part, outer, inner = {}, 0, 0
    for protocol in plan["protocols"]:
        runs = plan["repeats"] if protocol == "paper" else plan["loso_seeds"]
        folds = 1 if protocol == "paper" else (plan.get("n_folds") or int(n_subjects))
        for key in keys:
            if protocol == "loso" and plan.get("loso_rows") is not None and key not in plan["loso_rows"]:
                continue
            recipes = [name for name in plan["recipes"]
                       if not (protocol == "loso" and plan.get("loso_recipes") is not None
                               and name not in plan["loso_recipes"])
                       and (name not in recipe_rows or key in recipe_rows[name])]
            for name in recipes:
                by_part[f"{protocol}, {name}"] = by_part.get(f"{protocol}, {name}", 0) + runs * folds
                outer += runs * folds
            if grid and set(grid) <= set(recipes):
                part = f"{protocol}, nested choice"
                by_part[part] = by_part.get(part, 0) + runs * folds * len(grid)
                inner += runs * folds * len(grid)
    return {"by_part": by_part, "recipes": outer, "nested": inner, "total": outer + inner}
