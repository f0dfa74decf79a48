"""A results folder is one plan: the settings that make its results, the jobs they imply, and checks against both.

A *plan* is a plain dict (it is written as ``settings.json`` and recorded in
``provenance.json``) of every setting that changes a result: the rows, the
recipes (every field), the protocols, the repeats and seeds, the rows and
recipes run under leave-one-subject-out, the fold count, the epochs, the batch
size, the number of classes, the input settings of the flow inputs the rows
use, fingerprints of the data (the frames, labels and subjects; each flow
input apart, so that a plan may add a row of another input), and what the
builders of its rows' models were given where a model changed after folders
were first written (``models``, :data:`mer_lib.experiments.MODEL_VARIANTS`).
It implies a list of jobs (:class:`Job`, one fold of one run each). Each
fold's record keeps its job's identity (:func:`job_identity`), so a record is
recognised by what it holds, not by its file name.

:func:`compare_plans` says whether a requested plan is the folder's, extends
it (only adds runs: more repeats, rows, recipes, protocols or seeds, with every
other setting the same), or differs (the first difference, named). A folder
whose plan does not record ``models`` was made before they were recorded: its
models are the ones of that time, so a request whose rows build another
model of one of its rows differs from it.
:func:`check_records` reads the records of a folder and refuses one that
belongs to no job of the plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mer_lib.errors import UserInputError
from mer_lib.experiments.controls import PLAN_ROWS
from mer_lib.experiments.nested import NESTED
from mer_lib.experiments.rows import MODELS_BEFORE_VARIANTS, Row, model_variants, row_by_key

__all__ = ["Job", "make_plan", "plan_jobs", "job_identity", "record_mismatch", "compare_plans", "check_records",
           "read_records", "plan_from_provenance", "PLAN_FIELDS", "library_row", "show_model", "models_of"]

#: The fields of a plan (``settings.json``). ``recipe_rows`` (recipe -> the rows it runs for; None: every
#: recipe for every row) and ``nested`` (the grid of nested recipe choice; None: no choice) are optional; so is
#: ``models`` (what the rows' changed models were built with), which plans before issue 23 did not record.
PLAN_FIELDS = ("rows", "recipes", "protocols", "repeats", "loso_seeds", "loso_rows", "loso_recipes", "n_folds",
               "epochs", "batch_size", "n_classes", "input_settings", "data", "input_data", "n_subjects",
               "recipe_rows", "nested", "models")
#: Settings a plan cannot change without changing the results it already holds.
_FIXED = ("data", "epochs", "batch_size", "n_classes")


@dataclass(frozen=True)
class Job:
    """One fold of one run: a row, a recipe, a protocol, a repeat (its split and seeds) and a fold."""

    row: Row
    recipe: str
    protocol: str
    repeat: int
    fold: int
    n_folds: int
    seed: int
    split_seed: int
    subject_folds: int | None = None

    @property
    def run_id(self):
        """The run this fold belongs to (its folds are pooled before scoring)."""
        return f"{self.row.key}__{self.recipe}__{self.protocol}__r{self.repeat}"

    @property
    def job_id(self):
        """The name of the fold's record, ``runs/<job_id>.json``."""
        return f"{self.run_id}__f{self.fold}"


def library_row(key):
    """The library's row of a key, the controls' rows (:data:`mer_lib.experiments.PLAN_ROWS`) included.

    Parameters
    ----------
    key : str

    Returns
    -------
    Row

    Examples
    --------
    >>> library_row("flow_stream-pbvm5").label
    'Flow stream alone (PBVM, alpha 5)'
    """
    for row in PLAN_ROWS:
        if row.key == key:
            return row
    return row_by_key(key)


def _recipes_of(plan, protocol, key):
    """The recipes a row runs under a protocol, then "nested" where the plan chooses among them."""
    recipe_rows = plan.get("recipe_rows") or {}
    names = [name for name in plan["recipes"]
             if not (protocol == "loso" and plan["loso_recipes"] is not None and name not in plan["loso_recipes"])
             and (name not in recipe_rows or key in recipe_rows[name])]
    grid = plan.get("nested")
    if grid and set(grid) <= set(names):
        names.append(NESTED)
    return names


def make_plan(rows, recipes, protocols, repeats, loso_seeds, loso_rows, loso_recipes, n_folds, epochs, batch_size,
              n_classes, input_settings, data, input_data, n_subjects, recipe_rows=None, nested=None):
    """A plan from checked settings (see the module docstring); JSON-ready.

    Parameters
    ----------
    rows : sequence of Row
    recipes : dict of str to dict
        Recipe name to its fields (:meth:`mer_lib.train.Recipe.as_dict`).
    protocols : sequence of str
    repeats, loso_seeds : int
    loso_rows, loso_recipes : list of str or None
        None: every row, every recipe.
    n_folds : int or None
    epochs, batch_size, n_classes : int
    input_settings : dict of str to (magnify, alpha)
        Of the flow inputs the rows use.
    data : str
        The fingerprint of the frames, labels and subjects.
    input_data : dict of str to str
        The fingerprint of each flow input the rows use.
    n_subjects : int
    recipe_rows : dict of str to list of str, optional
        Recipes run for some rows only (recipe name -> row keys).
    nested : list of str, optional
        The grid of nested recipe choice: a row that runs every recipe of it
        also has a "nested" job per fold
        (:func:`mer_lib.experiments.choose_recipe`).

    Returns
    -------
    dict
        With ``models``: :func:`mer_lib.experiments.model_variants` of the
        rows (read from the library, not an argument).
    """
    return {"rows": [r.key for r in rows], "recipes": dict(recipes), "protocols": list(protocols),
            "repeats": int(repeats), "loso_seeds": int(loso_seeds),
            "loso_rows": None if loso_rows is None else list(loso_rows),
            "loso_recipes": None if loso_recipes is None else list(loso_recipes),
            "n_folds": None if n_folds is None else int(n_folds), "epochs": int(epochs),
            "batch_size": int(batch_size), "n_classes": int(n_classes),
            "input_settings": {k: list(v) for k, v in input_settings.items()}, "data": data,
            "input_data": dict(input_data), "n_subjects": int(n_subjects),
            "recipe_rows": None if recipe_rows is None else {k: list(v) for k, v in recipe_rows.items()},
            "nested": None if nested is None else list(nested), "models": model_variants(rows)}


def plan_jobs(plan, rows=None):
    """The jobs of a plan, in a fixed order (protocol, repeat, row, recipe, fold).

    Parameters
    ----------
    plan : dict
    rows : sequence of Row, optional
        The rows of ``plan["rows"]`` (default: the library's rows of those keys).

    Returns
    -------
    list of Job
    """
    by_key = {r.key: r for r in rows} if rows is not None else {}
    jobs = []
    for protocol in plan["protocols"]:
        n_runs = plan["repeats"] if protocol == "paper" else plan["loso_seeds"]
        subject_folds = plan["n_folds"] if protocol == "loso" else None
        n_folds = 1 if protocol == "paper" else (subject_folds or plan["n_subjects"])
        for r in range(n_runs):
            for key in plan["rows"]:
                if protocol == "loso" and plan["loso_rows"] is not None and key not in plan["loso_rows"]:
                    continue
                row = by_key.get(key) or library_row(key)
                for recipe in _recipes_of(plan, protocol, key):
                    for k in range(n_folds):
                        jobs.append(Job(row, recipe, protocol, r, k, n_folds, seed=1000 * r + k, split_seed=r,
                                        subject_folds=subject_folds))
    return jobs


def job_identity(job, plan):
    """Everything that makes a fold's result: what a record must hold to count as this job's.

    Parameters
    ----------
    job : Job
    plan : dict

    Returns
    -------
    dict
        JSON-ready. ``model``: what the row's model was built with (its
        entry of the plan's ``models``; None for a model that has none, and
        for every model of a plan made before they were recorded).
    """
    kind = job.row.flow_input
    fields = ({name: plan["recipes"][name] for name in plan["nested"]} if job.recipe == NESTED
              else plan["recipes"][job.recipe])
    return {"row_key": job.row.key, "recipe": job.recipe, "recipe_fields": fields,
            "protocol": job.protocol, "repeat": job.repeat, "fold": job.fold, "n_folds": job.n_folds,
            "subject_folds": job.subject_folds, "seed": job.seed, "split_seed": job.split_seed,
            "epochs": plan["epochs"], "batch_size": plan["batch_size"], "n_classes": plan["n_classes"],
            "input": None if kind is None else plan["input_settings"].get(kind), "data": plan["data"],
            "input_data": None if kind is None else (plan.get("input_data") or {}).get(kind),
            "model": (plan.get("models") or {}).get(job.row.model)}


# what a record of an older version holds of its identity, outside "identity"
_RECORD_FIELDS = ("row_key", "recipe", "protocol", "repeat", "fold", "n_folds", "seed", "split_seed", "epochs")
# identity fields a record of an older version may lack, and what it held then: its model was built as before
# models were recorded (for CNN_RNN: on the frames themselves), which is not the model of a plan that records one
_ABSENT_MEANS = {"model": None}


def record_mismatch(record, identity):
    """Whether a run record is the fold of this identity (:func:`job_identity`).

    Parameters
    ----------
    record : dict
        A run record (``runs/<job_id>.json``). A record written before
        identities were recorded is checked on the fields it holds (row,
        recipe, protocol, repeat, fold, fold count, seeds, epochs); a record
        without ``model`` holds the model as it was before models were
        recorded, which is not the model of an identity that names one.
    identity : dict

    Returns
    -------
    str or None
        None when the record is the fold's; otherwise the first difference.
    """
    held = record.get("identity")
    if held is None:       # a record of a version before identities: checked on the fields it holds
        held = {k: record[k] for k in _RECORD_FIELDS if k in record}
    for key in identity:
        if key in held and held[key] != identity[key]:
            return f"{key} is {held[key]!r} there, {identity[key]!r} in the plan"
        if key not in held and key in _ABSENT_MEANS and identity[key] != _ABSENT_MEANS[key]:
            return f"{key} is not recorded there (a record of an older {key}), {identity[key]!r} in the plan"
    missing = [k for k in ("row_key", "recipe", "protocol", "repeat", "fold") if k not in held]
    if missing:
        return f"it lacks {', '.join(missing)}"
    return None


def read_records(out):
    """Every run record of a results folder, by file stem; a broken one is a one-line error naming it.

    Parameters
    ----------
    out : str or Path

    Returns
    -------
    dict of str to dict
    """
    records = {}
    runs = Path(out) / "runs"
    for path in sorted(runs.glob("*.json")) if runs.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as err:
            raise UserInputError(f"{path} is not a valid run record ({err}); delete it to train that fold again") \
                from None
        records[path.stem] = record
    return records


def check_records(out, plan, jobs, records=None):
    """The job ids whose records a folder holds; a record of no job of the plan is refused by name.

    Parameters
    ----------
    out : str or Path
    plan : dict
    jobs : list of Job
    records : dict, optional
        :func:`read_records`' result (read here when omitted).

    Returns
    -------
    set of str

    Raises
    ------
    UserInputError
        A broken record, a record whose name is no job of the plan, or one
        whose contents are another job's (other settings, data or seeds).
    """
    records = read_records(out) if records is None else records
    by_id = {j.job_id: j for j in jobs}
    runs = Path(out) / "runs"
    for name, record in records.items():
        job = by_id.get(name)
        if job is None:
            raise UserInputError(f"{runs / (name + '.json')} is a record of no fold of this folder's plan: it was "
                                 "written by another plan; move it out of the folder")
        why = record_mismatch(record, job_identity(job, plan))
        if why is not None:
            raise UserInputError(f"{runs / (name + '.json')} is a record of other settings ({why}); move it out of "
                                 "the folder")
    return set(records)


def _effective(plan, field, universe):
    value = plan.get(field)
    return set(universe if value is None else value)


def compare_plans(old, new):
    """Whether a requested plan is a folder's plan, extends it, or differs from it.

    Parameters
    ----------
    old : dict
        The folder's plan (``settings.json``; fields an older version did not
        record are not compared, except ``models``: a plan without it built
        its models as they were before models were recorded).
    new : dict
        The requested plan.

    Returns
    -------
    kind : {"same", "extends", "differs"}
    why : str or None
        For "differs": the first difference, as "field: value there, value
        asked".
    """
    for key in _FIXED:
        if key in old and old[key] != new[key]:
            return "differs", f"{key}: {old[key]!r} there, {new[key]!r} asked"
    both_loso = "loso" in old.get("protocols", ()) and "loso" in new["protocols"]
    if both_loso and "n_folds" in old and old["n_folds"] != new["n_folds"]:
        return "differs", (f"n_folds (subject-disjoint folds; None: one per subject): {old['n_folds']!r} there, "
                           f"{new['n_folds']!r} asked")
    for name in set(old.get("recipes", {})) & set(new["recipes"]):
        if old["recipes"][name] != new["recipes"][name]:
            fields = sorted(k for k in set(old["recipes"][name]) | set(new["recipes"][name])
                            if old["recipes"][name].get(k) != new["recipes"][name].get(k))
            return "differs", f"recipe {name!r}: {', '.join(fields)} differ"
    for kind in set(old.get("input_settings") or {}) & set(new["input_settings"]):
        if list(old["input_settings"][kind]) != list(new["input_settings"][kind]):
            return "differs", (f"input {kind!r} (magnifier, alpha): {old['input_settings'][kind]} there, "
                               f"{new['input_settings'][kind]} asked")
    changed = _changed_models(old, new)
    if changed:
        return "differs", changed
    for kind in set(old.get("input_data") or {}) & set(new.get("input_data") or {}):
        if old["input_data"][kind] != new["input_data"][kind]:
            return "differs", (f"the data of the flow input {kind!r}: fingerprint {old['input_data'][kind]} there, "
                               f"{new['input_data'][kind]} asked")
    # every other setting only adds runs: the old plan's runs must all be in the new one
    shrinks = []
    for field in ("rows", "recipes", "protocols"):
        if not set(old.get(field, ())) <= set(new[field]):
            shrinks.append(f"{field}: {_show(old.get(field))} there, {_show(new[field])} asked")
    for field in ("repeats", "loso_seeds"):
        if old.get(field, 0) > new[field]:
            shrinks.append(f"{field}: {old[field]} there, {new[field]} asked")
    if "loso" in old.get("protocols", ()):
        for field, universe in (("loso_rows", old.get("rows", ())), ("loso_recipes", old.get("recipes", ()))):
            if not _effective(old, field, universe) <= _effective(new, field, new["rows" if field == "loso_rows"
                                                                                    else "recipes"]):
                shrinks.append(f"{field}: {_show(old.get(field)) if old.get(field) is not None else 'all'} there, "
                               f"{_show(new[field]) if new[field] is not None else 'all'} asked")
    old_full = {**new, **{k: v for k, v in old.items() if k in PLAN_FIELDS}}
    old_ids = {j.job_id for j in plan_jobs(old_full)}
    new_ids = {j.job_id for j in plan_jobs(new)}
    if shrinks or not old_ids <= new_ids:
        why = shrinks[0] if shrinks else f"{len(old_ids - new_ids)} of its runs are not in the plan asked"
        return "differs", why
    return ("same" if old_ids == new_ids else "extends"), None


def show_model(variant, model=None):
    """A model's entry of a plan's ``models`` in words (None: the model before models were recorded).

    Examples
    --------
    >>> show_model({"inputs": "onset_relative"})
    'inputs=onset_relative'
    >>> show_model(None, "cnn_rnn")
    'inputs=frames (not recorded: the model before models were recorded)'
    """
    if variant is None:
        before = MODELS_BEFORE_VARIANTS.get(model)
        if before is None:
            return "not recorded (the model before models were recorded)"
        return f"{show_model(before)} (not recorded: the model before models were recorded)"
    return ", ".join(f"{k}={v}" for k, v in variant.items())


def models_of(keys):
    """The model names of the library's rows among some row keys.

    A key the library does not know is skipped: :func:`plan_jobs` names it.

    Parameters
    ----------
    keys : iterable of str

    Returns
    -------
    set of str

    Examples
    --------
    >>> sorted(models_of(["cnn_rnn-frames", "two_stream-pbvm", "no-such-row"]))
    ['cnn_rnn', 'two_stream']
    """
    models = set()
    for key in keys:
        try:
            models.add(library_row(key).model)
        except UserInputError:
            continue         # a row this library does not know: plan_jobs names it
    return models


def _changed_models(old, new):
    """The first model of both plans' rows that the new plan builds otherwise, in words; None when none."""
    before, now = old.get("models") or {}, new.get("models") or {}
    for model in sorted(models_of(old.get("rows", ())) & models_of(new["rows"])):
        if before.get(model) != now.get(model):
            return (f"model {model!r}: {show_model(before.get(model), model)} there, "
                    f"{show_model(now.get(model), model)} asked")
    return None


def _show(value):
    if isinstance(value, dict):
        value = list(value)
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return repr(value)


def plan_from_provenance(prov):
    """The plan a results folder's provenance records (the older fields' names read too).

    Parameters
    ----------
    prov : dict

    Returns
    -------
    dict
    """
    dataset = prov.get("dataset") or {}
    names = dataset.get("class_names")
    plan = {k: prov[k] for k in PLAN_FIELDS if k in prov}
    plan.setdefault("data", prov.get("data_fingerprint"))
    plan.setdefault("n_subjects", dataset.get("n_subjects"))
    plan.setdefault("n_classes", len(names) if names else 3)
    return plan
