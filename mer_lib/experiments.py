"""The paper's experiments: Tables 3 and 4, controls, both recipes, both protocols, repeated runs.

Each row of a table is a model and an input:

- Table 3 (models): CNN_RNN and the one-stream 3D CNN on raw frames, and the
  two-stream network on frames plus phase-magnified TV-L1 flow ("our method");
- Table 4 (pre-processing): raw frames only (the one-stream 3D CNN), the
  two-stream network with the flow of the unmagnified clip ("optical flow"), and
  with the flow of the phase-magnified clip ("PBVM"). The paper's text also
  mentions flow of the Eulerian-magnified clip; it is an extra row here;
- controls (:data:`CONTROLS`): the "corrected" two-stream variant, each stream
  of the two-stream network trained alone (the architecture held fixed), and
  the two-stream network fed the flow of *another* clip (shuffled flow: what
  is left when the flow carries no information about the clip).

:func:`reproduce` runs any set of rows under both recipes
(:data:`mer_lib.train.RECIPES`) and both protocols, with repeated runs (the
paper's split with several seeds, each seed drawing its own split;
leave-one-subject-out with one or more seeds), several runs at once on one GPU,
and writes a results folder (:data:`RESULTS_FILES`, :data:`PROVENANCE_FIELDS`):
CSV tables of mean, standard deviation and 95% interval per cell, paired
comparisons, per-run predictions, learning curves, confusion matrices and the
provenance of the run. It shows progress and resumes after an interruption.

The paper's own numbers (Yan & Li 2020, Tables 3 and 4) are kept beside ours
for comparison; they are the paper's, measured on CAS(ME)^2 with a random
80/20 split.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_lib import evaluate

__all__ = ["Row", "TABLE3", "TABLE4", "CONTROLS", "FULL_ROWS", "PAPER_TABLE3", "PAPER_TABLE4", "INPUT_SETTINGS",
           "MODELS", "build", "row_inputs", "unique_rows", "run_row", "run_table", "reproduce", "summarize_results",
           "validate_results", "provenance", "RESULTS_FILES", "PROVENANCE_FIELDS", "current_settings",
           "settings_differences", "describe_provenance", "locate_results"]

#: The paper's Table 3: accuracy of the validation set, f1_score, recall rate.
PAPER_TABLE3 = {"CNN_RNN": (0.58, 0.57, 0.55), "One stream 3D CNN": (0.57, 0.58, 0.56),
                "Our method": (0.66, 0.63, 0.60)}
#: The paper's Table 4: accuracy, F1_score, recall rate.
PAPER_TABLE4 = {"Raw video frame": (0.58, 0.58, 0.56), "optical flow": (0.60, 0.61, 0.56),
                "PBVM": (0.66, 0.63, 0.60)}

#: Pre-processing of each input kind: (magnify, alpha).
INPUT_SETTINGS = {"flow": (None, 0.0), "pbvm": ("phase", 20.0), "evm": ("linear", 20.0)}

#: Model names and what they take: "frames", "flow" or "both".
MODELS = {"two_stream": "both", "two_stream_corrected": "both", "one_stream": "frames", "cnn_rnn": "frames",
          "frames_stream": "frames", "flow_stream": "flow"}


@dataclass(frozen=True)
class Row:
    """A table row: a label, a model name, the flow input it needs (None: frames only) and a control.

    ``control="shuffled"`` feeds each clip the flow of another clip (a fixed
    derangement of the clips, the same in training and testing).
    """

    label: str
    model: str
    flow_input: str | None
    control: str | None = None

    @property
    def key(self):
        """A file-name-safe identifier of the row."""
        parts = [self.model, self.flow_input or "frames"] + ([self.control] if self.control else [])
        return "-".join(parts)


TABLE3 = (Row("CNN_RNN", "cnn_rnn", None), Row("One stream 3D CNN", "one_stream", None),
          Row("Our method", "two_stream", "pbvm"))
TABLE4 = (Row("Raw video frame", "one_stream", None), Row("optical flow", "two_stream", "flow"),
          Row("PBVM", "two_stream", "pbvm"), Row("EVM (text, not in the table)", "two_stream", "evm"))
CONTROLS = (Row("Corrected two-stream (PBVM)", "two_stream_corrected", "pbvm"),
            Row("Frame stream alone", "frames_stream", None),
            Row("Flow stream alone (PBVM)", "flow_stream", "pbvm"),
            Row("Shuffled flow (PBVM)", "two_stream", "pbvm", "shuffled"))


def unique_rows(rows):
    """The rows in order, each model-and-input once (Tables 3 and 4 share rows under other labels).

    Parameters
    ----------
    rows : iterable of Row

    Returns
    -------
    tuple of Row
        The first row of each :attr:`Row.key`, in the order given.
    """
    seen, out = set(), []
    for row in rows:
        if row.key not in seen:
            seen.add(row.key)
            out.append(row)
    return tuple(out)


#: What ``mer reproduce --all`` runs: Tables 3 and 4 (without the EVM row) and the controls.
FULL_ROWS = unique_rows(TABLE3 + TABLE4[:3] + CONTROLS)


def build(model, frames_shape, flow_shape=None, n_classes=3, normalization=None):
    """A callable that builds the named model for these input shapes.

    Parameters
    ----------
    model : str
        A key of :data:`MODELS`.
    frames_shape : tuple
        (T, H, W, 1).
    flow_shape : tuple, optional
        (2T, H, W, 1); needed by the models that take flow.
    n_classes : int
    normalization : None, "batch" or "layer"
        After each Flatten (a recipe's ``normalization``).

    Returns
    -------
    callable
        ``() -> keras.Model`` (uncompiled).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: choose from {', '.join(MODELS)}")
    if MODELS[model] in ("both", "flow") and flow_shape is None:
        raise ValueError(f"the model {model!r} takes flow: give flow_shape")
    builder = _builders()[model]
    return lambda: builder(frames_shape, flow_shape, n_classes, normalization)


def _builders():
    """Model name -> (frames_shape, flow_shape, n_classes, normalization) -> keras.Model; the keys are MODELS'."""
    from mer_lib import models

    return {
        "two_stream": lambda fr, fl, k, n: models.two_stream("paper", fr, fl, k, normalization=n),
        "two_stream_corrected": lambda fr, fl, k, n: models.two_stream("corrected", fr, fl, k, normalization=n),
        "one_stream": lambda fr, fl, k, n: models.one_stream_3dcnn(fr, k, normalization=n),
        "cnn_rnn": lambda fr, fl, k, n: models.cnn_rnn(fr, k, normalization=n),
        "frames_stream": lambda fr, fl, k, n: models.stream_model("frames", "paper", fr, k, normalization=n),
        "flow_stream": lambda fr, fl, k, n: models.stream_model("flow", "paper", fl, k, normalization=n),
    }


def _derangement(n, seed):
    """A permutation of range(n) with no fixed point (n >= 2)."""
    rng = np.random.default_rng([int(seed), 7])
    while True:
        perm = rng.permutation(n)
        if n < 2 or not np.any(perm == np.arange(n)):
            return perm


def row_inputs(row, frames, flows, index, seed=0):
    """The inputs of a row's model for the clips ``index``.

    Parameters
    ----------
    row : Row
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
    index : array_like of int
    seed : int
        Seeds the derangement of the shuffled-flow control (fixed per dataset
        and seed, so training and test clips are shuffled alike).

    Returns
    -------
    ndarray or dict of ndarray
        Frames (one_stream, cnn_rnn), ``{"frames"}``, ``{"flow"}`` or both.
    """
    kind = MODELS.get(row.model)
    if kind is None:
        raise ValueError(f"unknown model {row.model!r} in row {row.label!r}")
    if kind in ("both", "flow"):
        if row.flow_input not in flows:
            raise ValueError(f"row {row.label!r} needs the flow input {row.flow_input!r}; have {sorted(flows)}")
        flow = flows[row.flow_input]
        if row.control == "shuffled":
            flow = flow[_derangement(len(flow), seed)]
        elif row.control is not None:
            raise ValueError(f"unknown control {row.control!r} in row {row.label!r}")
    if row.model in ("one_stream", "cnn_rnn"):
        return frames[index]
    if kind == "frames":
        return {"frames": frames[index]}
    if kind == "flow":
        return {"flow": flow[index]}
    return {"frames": frames[index], "flow": flow[index]}


def _folds(protocol, labels, subjects, seed, n_folds=None):
    if protocol == "paper":
        return [evaluate.paper_split(labels, 0.2, seed)]
    if protocol == "loso":
        return list(evaluate.loso_splits(subjects) if n_folds is None
                    else evaluate.subject_folds(subjects, n_folds, seed))
    raise ValueError(f"protocol must be 'paper' or 'loso', got {protocol!r}")


def _train_fold(row, recipe, frames, flows, labels, subjects, train_idx, test_idx, *, epochs, batch_size, seed,
                n_classes, checkpoint_dir, verbose, protocol, cpu_epochs=None):
    """Train one fold and predict its test clips; the record a results folder keeps of it.

    A validation set (for recipes that pick their epoch) is carved out of the
    training fold the way the protocol splits: whole subjects under
    leave-one-subject-out, stratified clips under the paper's split."""
    from mer_lib.train import get_recipe, train

    recipe = get_recipe(recipe)
    flow_shape = None if row.flow_input is None else flows[row.flow_input].shape[1:]
    make = build(row.model, frames.shape[1:], flow_shape, n_classes, recipe.normalization)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # collapse warnings are kept in the record instead
        result = train(make, row_inputs(row, frames, flows, train_idx, seed), labels[train_idx], recipe=recipe,
                       n_classes=n_classes, epochs=epochs, batch_size=batch_size, seed=seed,
                       groups=np.asarray(subjects)[train_idx] if protocol == "loso" else None,
                       checkpoint_dir=checkpoint_dir, verbose=verbose,
                       cpu_epochs=cpu_epochs)
    probs = result.model.predict(row_inputs(row, frames, flows, test_idx, seed), batch_size=32, verbose=0)
    return {"test_index": [int(i) for i in test_idx], "y_true": [int(v) for v in labels[test_idx]],
            "y_pred": [int(v) for v in np.argmax(probs, axis=1)],
            "probabilities": np.round(np.asarray(probs, float), 5).tolist(), "history": result.history,
            "initial_loss": result.initial_loss, "best_epoch": result.best_epoch, "epochs": result.epochs,
            "warnings": result.warnings, "device": result.device, "seconds": time.perf_counter() - t0,
            "train_seconds": result.train_seconds, "checkpoint_seconds": result.checkpoint_seconds}


def run_row(row, frames, flows, labels, subjects, protocol="paper", *, recipe="paper", n_folds=None, epochs=100,
            batch_size=8, seed=0, n_classes=3, checkpoint_root=None, verbose=0, progress=True, cpu_epochs=None):
    """Train and test one row under one protocol; predictions of all folds pooled.

    Parameters
    ----------
    row : Row
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
        Flow inputs by kind ("flow", "pbvm", "evm").
    labels, subjects : ndarray, shape (N,)
    protocol : {"paper", "loso"}
        "paper": one stratified 80/20 split of the clips (drawn with
        ``seed``); "loso": leave one subject out (or ``n_folds``
        subject-disjoint folds when given).
    recipe : {"paper", "stable"} or Recipe
    n_folds : int, optional
    epochs, batch_size, seed, n_classes
    checkpoint_root : Path, optional
        Per-fold checkpoints (training resumes after an interruption).
    cpu_epochs : int, optional
        Shorten each fold's training on a machine without a GPU.

    Returns
    -------
    dict
        ``y_true``, ``y_pred`` (pooled), ``scores``, ``confusion``, ``folds``,
        ``warnings`` (per fold), ``histories`` (per fold).
    """
    from mer_lib.train import get_recipe

    recipe = get_recipe(recipe)
    labels = np.asarray(labels)
    folds = _folds(protocol, labels, subjects, seed, n_folds)
    y_true, y_pred, fold_warnings, histories = [], [], [], []
    iterator = enumerate(folds)
    if progress and len(folds) > 1:
        from mer_lib.env import progress_bar
        iterator = progress_bar(iterator, total=len(folds), desc=f"{row.label}, {protocol}")
    for k, (train_idx, test_idx) in iterator:
        ckpt = None
        if checkpoint_root is not None:
            ckpt = (Path(checkpoint_root) /
                    f"{row.key}-{recipe.name}-{protocol}-{len(folds)}-s{seed}-fold{k}")
        record = _train_fold(row, recipe, frames, flows, labels, subjects, train_idx, test_idx, epochs=epochs,
                             batch_size=batch_size, seed=seed + k, n_classes=n_classes, checkpoint_dir=ckpt,
                             verbose=verbose, protocol=protocol, cpu_epochs=cpu_epochs)
        y_true.append(record["y_true"])
        y_pred.append(record["y_pred"])
        fold_warnings.append(record["warnings"])
        histories.append(record["history"])
    y_true, y_pred = np.concatenate(y_true).astype(int), np.concatenate(y_pred).astype(int)
    return {"y_true": y_true, "y_pred": y_pred, "scores": evaluate.scores(y_true, y_pred, n_classes),
            "confusion": evaluate.confusion_matrix(y_true, y_pred, n_classes), "folds": len(folds),
            "warnings": fold_warnings, "histories": histories}


def run_table(rows, frames, flows, labels, subjects, protocol="paper", paper=None, memo=None, **kwargs):
    """Run every row of a table once; return (DataFrame of ours beside the paper's, dict of results by label).

    ``memo`` (a dict) keeps results by (model, input, control, protocol,
    recipe), so that a row shared by Tables 3 and 4 is trained once. For
    repeated runs with intervals, use :func:`reproduce`.
    """
    import pandas as pd

    results, records = {}, []
    for row in rows:
        key = (row.model, row.flow_input, row.control, protocol, str(kwargs.get("recipe", "paper")))
        if memo is not None and key in memo:
            res = memo[key]
        else:
            res = run_row(row, frames, flows, labels, subjects, protocol, **kwargs)
            if memo is not None:
                memo[key] = res
        results[row.label] = res
        s = res["scores"]
        ref = (paper or {}).get(row.label, (np.nan, np.nan, np.nan))
        records.append({"method": row.label, "accuracy": s["accuracy"], "UF1": s["uf1"], "UAR": s["uar"],
                        "paper accuracy": ref[0], "paper F1": ref[1], "paper recall": ref[2]})
    return pd.DataFrame(records), results


# ---------------------------------------------------------------------------------------------------------------
# The full reproduction: jobs, workers, a results folder
# ---------------------------------------------------------------------------------------------------------------

#: Files of a results folder written by :func:`reproduce` (folders end with "/").
RESULTS_FILES = ("provenance.json", "runs.csv", "tables.csv", "comparisons.csv", "predictions.csv",
                 "histories.csv", "confusion.csv", "curves/", "confusion/", "runs/")
#: Fields of ``provenance.json``.
PROVENANCE_FIELDS = ("commit", "tree_clean", "library_version", "keras_version", "keras_backend", "backend_version",
                     "numpy_version", "python_version", "platform", "device", "date", "wall_seconds", "command",
                     "dataset", "rows", "recipes", "protocols", "repeats", "loso_seeds", "loso_rows", "loso_recipes",
                     "n_folds", "seeds",
                     "epochs", "batch_size", "input_settings", "workers", "runs")


def provenance(**extra):
    """Where and how a result was made: the code (git commit, clean tree), the software and the device.

    Parameters
    ----------
    **extra
        Further fields (the experiment's settings).

    Returns
    -------
    dict
        ``commit`` (the environment variable ``MER_COMMIT`` when set: the
        commit a tree was copied from, as ``tools/gpu_run.sh`` sets it;
        otherwise git's, None outside a checkout), ``tree_clean``
        (``MER_TREE_CLEAN=1`` with ``MER_COMMIT``; git's otherwise),
        library, Keras, backend, NumPy and Python versions, ``platform``, ``device``, ``date`` (UTC, ISO 8601), and ``extra``.
    """
    import keras

    import mer_lib
    from mer_lib.env import gpu_names

    root = Path(mer_lib.__file__).resolve().parent.parent
    if os.environ.get("MER_COMMIT"):
        # a tree copied from a checkout (the GPU machine): the commit recorded where it was copied wins over
        # whatever .git the copy may sit in (one such machine had a stale .git of an older commit)
        commit, clean = os.environ["MER_COMMIT"], os.environ.get("MER_TREE_CLEAN") == "1"
    else:
        commit, clean = _git_state(root)
    backend = keras.backend.backend()
    try:
        backend_version = __import__(backend).__version__
    except (ImportError, AttributeError):
        backend_version = None
    gpus = gpu_names()
    info = {"commit": commit, "tree_clean": clean, "library_version": mer_lib.__version__,
            "keras_version": keras.__version__, "keras_backend": backend, "backend_version": backend_version,
            "numpy_version": np.__version__, "python_version": platform.python_version(),
            "platform": platform.platform(), "device": f"GPU: {', '.join(gpus)}" if gpus else "CPU",
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    info.update(extra)
    return info


def _git_state(root):
    """(commit, clean) of the checkout at ``root``; (None, None) outside one or without git."""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20)
        if out.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=20)
        return out.stdout.strip(), status.returncode == 0 and not status.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None


@dataclass(frozen=True)
class _Job:
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
        return f"{self.row.key}__{self.recipe}__{self.protocol}__r{self.repeat}"

    @property
    def job_id(self):
        return f"{self.run_id}__f{self.fold}"


def _jobs(rows, recipes, protocols, repeats, loso_seeds, labels, subjects, n_folds, loso_rows=None,
          loso_recipes=None):
    jobs = []
    for protocol in protocols:
        n_runs = repeats if protocol == "paper" else loso_seeds
        for r in range(n_runs):
            subject_folds = n_folds if protocol == "loso" else None
            folds = _folds(protocol, labels, subjects, r, subject_folds)
            for row in rows:
                if protocol == "loso" and loso_rows is not None and row.key not in loso_rows:
                    continue
                for recipe in recipes:
                    if protocol == "loso" and loso_recipes is not None and recipe not in loso_recipes:
                        continue
                    for k in range(len(folds)):
                        jobs.append(_Job(row, recipe, protocol, r, k, len(folds), seed=1000 * r + k, split_seed=r,
                                         subject_folds=subject_folds))
    return jobs


_WORKER_DATA: dict = {}


def _worker_init():
    # several processes share one GPU: neither TensorFlow nor JAX may take its memory up front
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _load_inputs(path):
    if path not in _WORKER_DATA:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        flows = {k[len("flow_"):]: v for k, v in arrays.items() if k.startswith("flow_")}
        _WORKER_DATA.clear()
        _WORKER_DATA[path] = (arrays["frames"], flows, arrays["labels"], arrays["subjects"])
    return _WORKER_DATA[path]


def _run_job(job, inputs_path, out, epochs, batch_size, n_classes):
    """Train one fold of one run and write its record to runs/<job_id>.json (atomically)."""
    from mer_lib.data.prepare import atomic_write_text

    frames, flows, labels, subjects = _load_inputs(str(inputs_path))
    folds = _folds(job.protocol, labels, subjects, job.split_seed, job.subject_folds)
    train_idx, test_idx = folds[job.fold]
    ckpt = Path(out) / "checkpoints" / job.job_id
    record = _train_fold(job.row, job.recipe, frames, flows, labels, subjects, train_idx, test_idx, epochs=epochs,
                         batch_size=batch_size, seed=job.seed, n_classes=n_classes, checkpoint_dir=ckpt, verbose=0,
                         protocol=job.protocol)
    record.update({"job": job.job_id, "run": job.run_id, "row": job.row.label, "row_key": job.row.key,
                   "model": job.row.model, "input": job.row.flow_input or "frames", "control": job.row.control,
                   "recipe": job.recipe, "protocol": job.protocol, "repeat": job.repeat, "fold": job.fold,
                   "n_folds": job.n_folds, "seed": job.seed, "split_seed": job.split_seed})
    atomic_write_text(Path(out) / "runs" / f"{job.job_id}.json", json.dumps(record))
    shutil.rmtree(ckpt, ignore_errors=True)       # the record is what resuming needs now
    return job.job_id


def reproduce(out, frames, flows, labels, subjects, *, rows=FULL_ROWS, recipes=("paper", "stable"),
              protocols=("paper", "loso"), repeats=5, loso_seeds=1, n_folds=None, epochs=100, batch_size=8,
              n_classes=3, class_names=None, workers="auto", dataset=None, command=None, progress=True,
              loso_rows=None, loso_recipes=None):
    """Run rows x recipes x protocols x repeats, several at once, and write a results folder.

    Parameters
    ----------
    out : str or Path
        The results folder (created; a folder of an earlier call with the same
        settings is continued: finished folds are read, not retrained).
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
        The flow inputs the rows need ("flow", "pbvm", "evm").
    labels : ndarray of int, shape (N,)
    subjects : ndarray, shape (N,)
    rows : sequence of Row, default :data:`FULL_ROWS`
    recipes : sequence of str
        Names in :data:`mer_lib.train.RECIPES`.
    protocols : sequence of {"paper", "loso"}
    repeats : int, default 5
        Runs under the paper's protocol, run r drawing its split and seeding
        its training with r.
    loso_seeds : int, default 1
        Runs under leave-one-subject-out (each all the folds).
    n_folds : int, optional
        Subject-disjoint folds instead of one per subject (a CPU shortcut).
    epochs, batch_size, n_classes
    class_names : list of str, optional
    workers : "auto" or int
        Training processes at once; "auto": up to 8 on a GPU (the paper's
        small batches leave it mostly idle), 1 on a CPU (where one run already
        uses every core).
    dataset : dict, optional
        What the data are (name, size...), recorded in the provenance.
    command : str, optional
        The command line that regenerates the folder (default: ``sys.argv``).
    progress : bool
    loso_rows : sequence of str, optional
        Keys (:attr:`Row.key`) or labels of the rows also run under
        leave-one-subject-out (default: every row). Its folds are many, so a
        GPU budget may allow it for a few rows only.
    loso_recipes : sequence of str, optional
        The recipes run under leave-one-subject-out (default: every recipe).

    Returns
    -------
    pandas.DataFrame
        The summary table (``tables.csv``).
    """
    from mer_lib.data.prepare import atomic_save_npz
    from mer_lib.env import gpu_names
    from mer_lib.train import RECIPES

    t_start = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a file, not a folder")
    labels = np.asarray(labels).astype(int)
    subjects = np.asarray(subjects).astype(str)
    for name in recipes:
        if name not in RECIPES:
            raise ValueError(f"unknown recipe {name!r}: choose from {', '.join(RECIPES)}")
    for protocol in protocols:
        if protocol not in ("paper", "loso"):
            raise ValueError(f"protocol must be 'paper' or 'loso', got {protocol!r}")
    for row in rows:
        if row.model not in MODELS:
            raise ValueError(f"unknown model {row.model!r} in row {row.label!r}")
        if row.flow_input is not None and row.flow_input not in flows:
            raise ValueError(f"row {row.label!r} needs the flow input {row.flow_input!r}; have {sorted(flows)}")
    if loso_rows is not None:
        by_name = {**{r.key: r.key for r in rows}, **{r.label: r.key for r in rows}}
        unknown = [name for name in loso_rows if name not in by_name]
        if unknown:
            raise ValueError(f"loso_rows: {unknown[0]!r} is not a row of this reproduction; choose from "
                             f"{', '.join(r.key for r in rows)}")
        loso_rows = [r.key for r in rows if r.key in {by_name[n] for n in loso_rows}]
    if loso_recipes is not None:
        unknown = [name for name in loso_recipes if name not in recipes]
        if unknown:
            raise ValueError(f"loso_recipes: {unknown[0]!r} is not one of the recipes {', '.join(recipes)}")
        loso_recipes = [name for name in recipes if name in loso_recipes]
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    if not isinstance(loso_seeds, (int, np.integer)) or loso_seeds < 1:
        raise ValueError(f"loso_seeds must be a positive integer, got {loso_seeds!r}")
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if workers == "auto":
        workers = min(8, os.cpu_count() or 1) if gpu_names() else 1
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be 'auto' or a positive integer, got {workers!r}")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    settings = {"rows": [r.key for r in rows], "recipes": {name: RECIPES[name].as_dict() for name in recipes},
                "protocols": list(protocols), "repeats": int(repeats), "loso_seeds": int(loso_seeds),
                "loso_rows": None if loso_rows is None else list(loso_rows),
                "loso_recipes": None if loso_recipes is None else list(loso_recipes),
                "n_folds": n_folds, "epochs": int(epochs), "batch_size": int(batch_size),
                "input_settings": {k: list(v) for k, v in INPUT_SETTINGS.items() if k in flows}}
    inputs_path = out / "inputs.npz"
    from mer_lib.train import data_fingerprint

    fingerprint = data_fingerprint({"frames": frames, **{f"flow_{k}": v for k, v in flows.items()}}, labels, subjects)
    settings_file = out / "settings.json"
    if settings_file.exists():
        try:
            earlier = json.loads(settings_file.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{settings_file} is not valid JSON ({err}); delete it to start the folder again") from None
        if earlier.get("data") != fingerprint or earlier.get("epochs") != settings["epochs"] or \
                earlier.get("batch_size") != settings["batch_size"] or earlier.get("recipes", {}) != {
                    k: v for k, v in settings["recipes"].items() if k in earlier.get("recipes", {})}:
            raise ValueError(f"{out} holds results of other data or settings (see {settings_file}); "
                             "use another --out folder")
    from mer_lib.data.prepare import atomic_write_text

    atomic_write_text(settings_file, json.dumps({**settings, "data": fingerprint}, indent=1))
    if not inputs_path.exists():
        atomic_save_npz(inputs_path, frames=frames, labels=labels, subjects=subjects,
                        **{f"flow_{k}": v for k, v in flows.items()})
    jobs = _jobs(rows, recipes, protocols, repeats, loso_seeds, labels, subjects, n_folds, loso_rows, loso_recipes)
    todo = [j for j in jobs if not (out / "runs" / f"{j.job_id}.json").exists()]
    if progress:
        print(f"{len(jobs)} training runs ({len(jobs) - len(todo)} already done in {out}); {workers} at once")
    bar = None
    if progress:
        from mer_lib.env import progress_bar
        bar = progress_bar(total=len(jobs), initial=len(jobs) - len(todo), desc="reproduction")
    args = (str(inputs_path), str(out), int(epochs), int(batch_size), int(n_classes))
    if workers == 1:            # in this process: its environment is the caller's, left as it is
        from mer_lib.train import release_training_memory

        for job in todo:
            _run_job(job, *args)
            release_training_memory()        # a plan's peak memory does not grow with its trainings
            if bar is not None:
                bar.update()
    elif todo:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init)
        try:
            futures = [pool.submit(_run_job, job, *args) for job in todo]
            for future in as_completed(futures):
                future.result()
                if bar is not None:
                    bar.update()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    if bar is not None:
        bar.close()
    inputs_path.unlink(missing_ok=True)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    wall = time.perf_counter() - t_start
    earlier_wall = 0.0          # the folder was continued: the time of the calls before counts too
    if (out / "provenance.json").exists():
        try:
            earlier_wall = float(json.loads((out / "provenance.json").read_text()).get("wall_seconds", 0.0))
        except (json.JSONDecodeError, ValueError, TypeError):
            earlier_wall = 0.0
    prov = provenance(**settings, dataset=dataset or {"n_clips": int(len(labels)),
                                                      "n_subjects": int(len(np.unique(subjects)))},
                      seeds={"paper": list(range(repeats)), "loso": list(range(loso_seeds))},
                      wall_seconds=round(wall + earlier_wall, 1),
                      command=command or " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), workers=int(workers),
                      runs=len(jobs), data_fingerprint=fingerprint)
    atomic_write_text(out / "provenance.json", json.dumps(prov, indent=1))
    return summarize_results(out, rows=rows, jobs=jobs, class_names=class_names, n_classes=n_classes)


def _paper_reference(label):
    ref = PAPER_TABLE3.get(label) or PAPER_TABLE4.get(label)
    return ref if ref is not None else (np.nan, np.nan, np.nan)


def summarize_results(out, rows=None, jobs=None, class_names=None, n_classes=3):
    """Write the tables, comparisons, predictions, curves and confusion matrices of a results folder.

    Reads ``runs/*.json`` (one record per fold of a run); a run's folds are
    pooled before scoring. Writes the CSV files and figures of
    :data:`RESULTS_FILES`.

    Parameters
    ----------
    out : str or Path
    rows : sequence of Row, optional
        Their order in the tables (default: as found).
    jobs : list, optional
        The expected folds; a run with a fold missing is an error.
    class_names : list of str, optional
    n_classes : int

    Returns
    -------
    pandas.DataFrame
        ``tables.csv``: one line per row, recipe and protocol.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out = Path(out)
    records = []
    for path in sorted((out / "runs").glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not a valid run record ({err}); delete it to train that fold again") from None
    if not records:
        raise ValueError(f"no run records in {out / 'runs'}: nothing to summarise")
    if jobs is not None:
        have = {r["job"] for r in records}
        missing = [j.job_id for j in jobs if j.job_id not in have]
        if missing:
            raise ValueError(f"{len(missing)} folds have no record in {out / 'runs'} (first: {missing[0]})")
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    by_run = {}
    for r in records:
        by_run.setdefault(r["run"], []).append(r)
    run_lines, pred_lines, hist_lines = [], [], []
    pooled = {}
    for run_id, folds in sorted(by_run.items()):
        folds.sort(key=lambda r: r["fold"])
        first = folds[0]
        if len(folds) != first["n_folds"]:
            raise ValueError(f"run {run_id} has {len(folds)} of its {first['n_folds']} folds in {out / 'runs'}")
        y_true = np.concatenate([f["y_true"] for f in folds]).astype(int)
        y_pred = np.concatenate([f["y_pred"] for f in folds]).astype(int)
        s = evaluate.scores(y_true, y_pred, n_classes)
        collapsed = any(f["warnings"] for f in folds)
        run_lines.append({"run": run_id, "row": first["row"], "row_key": first["row_key"], "recipe": first["recipe"],
                          "protocol": first["protocol"], "repeat": first["repeat"], "folds": len(folds),
                          "n_test": len(y_true), "accuracy": s["accuracy"], "uf1": s["uf1"], "uar": s["uar"],
                          "collapsed": collapsed, "initial_loss": float(np.mean([f["initial_loss"] for f in folds])),
                          "best_epoch": float(np.mean([f["best_epoch"] for f in folds])),
                          "epochs": first["epochs"], "device": first["device"],
                          "seconds": float(sum(f["seconds"] for f in folds)),
                          "train_seconds": float(sum(f.get("train_seconds", 0.0) for f in folds)),
                          "checkpoint_seconds": float(sum(f.get("checkpoint_seconds", 0.0) for f in folds)),
                          "warnings": " | ".join(sorted({w for f in folds for w in f["warnings"]}))})
        pooled[run_id] = (y_true, y_pred, np.concatenate([f["test_index"] for f in folds]).astype(int))
        for f in folds:
            for clip, t, p in zip(f["test_index"], f["y_true"], f["y_pred"]):
                pred_lines.append({"run": run_id, "fold": f["fold"], "clip": clip, "y_true": t, "y_pred": p})
            for e in range(len(f["history"].get("loss", []))):
                hist_lines.append({"run": run_id, "fold": f["fold"], "epoch": e + 1,
                                   **{k: v[e] for k, v in f["history"].items() if e < len(v)}})
    runs = pd.DataFrame(run_lines)
    runs.to_csv(out / "runs.csv", index=False)
    pd.DataFrame(pred_lines).to_csv(out / "predictions.csv", index=False)
    histories = pd.DataFrame(hist_lines)
    histories.to_csv(out / "histories.csv", index=False)

    order = [r.label for r in rows] if rows is not None else list(dict.fromkeys(runs["row"]))
    table_lines, confusion_lines = [], []
    (out / "confusion").mkdir(exist_ok=True)
    (out / "curves").mkdir(exist_ok=True)
    for (recipe, protocol), group in runs.groupby(["recipe", "protocol"], sort=True):
        cells = [label for label in order if label in set(group["row"])]
        fig, axes = plt.subplots(1, len(cells), figsize=(3.4 * len(cells), 3.2), squeeze=False)
        for ax, label in zip(axes[0], cells):
            g = group[group["row"] == label].sort_values("repeat")
            line = {"row": label, "row_key": g["row_key"].iloc[0], "recipe": recipe, "protocol": protocol,
                    "runs": len(g), "collapsed_runs": int(g["collapsed"].sum())}
            for m in ("accuracy", "uf1", "uar"):
                s = evaluate.summarize(g[m].to_numpy())
                if s["n"] < 2:             # one run: the interval is over its test clips
                    y_t, y_p, _ = pooled[g["run"].iloc[0]]
                    b = evaluate.bootstrap_metric(y_t, y_p, m, n_classes)
                    s["ci_low"], s["ci_high"] = b["ci_low"], b["ci_high"]
                line.update({f"{m}_mean": s["mean"], f"{m}_sd": s["sd"], f"{m}_ci_low": s["ci_low"],
                             f"{m}_ci_high": s["ci_high"]})
            line["ci_over"] = "runs" if len(g) > 1 else "test clips"
            ref = _paper_reference(label)
            line.update({"paper_accuracy": ref[0], "paper_f1": ref[1], "paper_recall": ref[2]})
            table_lines.append(line)
            cm = sum(evaluate.confusion_matrix(*pooled[run][:2], n_classes) for run in g["run"])
            for i in range(n_classes):
                for j in range(n_classes):
                    confusion_lines.append({"row": label, "recipe": recipe, "protocol": protocol,
                                            "true": names[i], "predicted": names[j], "count": int(cm[i, j])})
            evaluate.plot_confusion(cm, names, ax=ax, title=f"{label}\n{recipe}, {protocol}")
        fig.tight_layout()
        fig.savefig(out / "confusion" / f"{recipe}-{protocol}.png", dpi=80)
        plt.close(fig)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        for label in cells:
            h = histories[histories["run"].isin(group[group["row"] == label]["run"])]
            mean = h.groupby("epoch")[["loss"] + (["val_loss"] if "val_loss" in h else [])].mean()
            axes[0].plot(mean.index, mean["loss"], label=label)
            if "val_loss" in mean and mean["val_loss"].notna().any():
                axes[1].plot(mean.index, mean["val_loss"], label=label)
        for ax, title in zip(axes, ("training loss", "validation loss (held out of the training fold)")):
            ax.axhline(np.log(n_classes), color="grey", ls=":", lw=1)
            ax.set_title(f"{title}\n{recipe} recipe, {protocol} protocol (mean over runs and folds)", fontsize=9)
            ax.set_xlabel("epoch")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "curves" / f"{recipe}-{protocol}.png", dpi=80)
        plt.close(fig)
    tables = pd.DataFrame(table_lines)
    tables.to_csv(out / "tables.csv", index=False)
    pd.DataFrame(confusion_lines).to_csv(out / "confusion.csv", index=False)
    _comparisons(runs, pooled, n_classes).to_csv(out / "comparisons.csv", index=False)
    return tables


def _comparisons(runs, pooled, n_classes, reference="Our method"):
    """The paper's method against every other row, per recipe and protocol, on paired runs."""
    import pandas as pd

    lines = []
    for (recipe, protocol), group in runs.groupby(["recipe", "protocol"], sort=True):
        ours = group[group["row"] == reference].set_index("repeat")
        if ours.empty:
            continue
        for label in dict.fromkeys(group["row"]):
            if label == reference:
                continue
            other = group[group["row"] == label].set_index("repeat")
            common = sorted(set(ours.index) & set(other.index))
            if not common:
                continue
            line = {"recipe": recipe, "protocol": protocol, "a": reference, "b": label, "paired_runs": len(common)}
            for m in ("uf1", "accuracy"):
                c = evaluate.compare_runs(ours.loc[common, m].to_numpy(), other.loc[common, m].to_numpy())
                line.update({f"{m}_difference": c["mean_difference"], f"{m}_ci_low": c["ci_low"],
                             f"{m}_ci_high": c["ci_high"], f"{m}_p_runs": c["p_value"]})
            # McNemar on every (run, clip) pair: the same clips predicted by both
            t_all, a_all, b_all = [], [], []
            for r in common:
                ya, pa, ia = pooled[ours.loc[r, "run"]]
                yb, pb, ib = pooled[other.loc[r, "run"]]
                oa, ob = np.argsort(ia), np.argsort(ib)
                if not np.array_equal(ia[oa], ib[ob]):
                    raise ValueError(f"runs {ours.loc[r, 'run']} and {other.loc[r, 'run']} tested different clips")
                t_all.append(ya[oa]); a_all.append(pa[oa]); b_all.append(pb[ob])
            mc = evaluate.mcnemar(np.concatenate(t_all), np.concatenate(a_all), np.concatenate(b_all))
            line.update({"mcnemar_b": mc["b"], "mcnemar_c": mc["c"], "mcnemar_p": mc["p_value"]})
            p = line["uf1_p_runs"] if len(common) > 1 else mc["p_value"]
            line["verdict"] = ("no difference beyond chance" if p >= 0.05 else
                               f"{reference} {'better' if line['uf1_difference'] > 0 else 'worse'} (p < 0.05)")
            lines.append(line)
    return pd.DataFrame(lines)


def validate_results(out):
    """Check a results folder against the schema; raise a one-line ValueError naming what is wrong.

    Parameters
    ----------
    out : str or Path

    Returns
    -------
    dict
        The provenance.
    """
    import pandas as pd

    out = Path(out)
    if not out.is_dir():
        raise ValueError(f"{out} is not a results folder")
    for name in RESULTS_FILES:
        path = out / name.rstrip("/")
        if name.endswith("/"):
            if not path.is_dir() or not any(path.iterdir()):
                raise ValueError(f"{out}: the folder {name} is missing or empty")
        elif not path.is_file():
            raise ValueError(f"{out}: the file {name} is missing")
    try:
        prov = json.loads((out / "provenance.json").read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{out / 'provenance.json'} is not valid JSON ({err})") from None
    missing = [f for f in PROVENANCE_FIELDS if f not in prov]
    if missing:
        raise ValueError(f"{out / 'provenance.json'} lacks the fields {', '.join(missing)}")
    tables = pd.read_csv(out / "tables.csv")
    need = {"row", "recipe", "protocol", "runs"} | {f"{m}_{s}" for m in ("accuracy", "uf1", "uar")
                                                     for s in ("mean", "sd", "ci_low", "ci_high")}
    if need - set(tables.columns):
        raise ValueError(f"{out / 'tables.csv'} lacks the columns {', '.join(sorted(need - set(tables.columns)))}")
    runs = pd.read_csv(out / "runs.csv")
    if len(runs) != int(tables["runs"].sum()):
        raise ValueError(f"{out}: runs.csv has {len(runs)} runs, tables.csv counts {int(tables['runs'].sum())}")
    n_records = len(list((out / "runs").glob("*.json")))
    if n_records != int(prov["runs"]):
        raise ValueError(f"{out}: {n_records} run records, the provenance says {prov['runs']}")
    return prov


def current_settings(recipes=None):
    """The experiment settings this version of the library uses (to compare with a results folder's).

    Parameters
    ----------
    recipes : sequence of str, optional
        The recipes to describe (default: every recipe in
        :data:`mer_lib.train.RECIPES`).

    Returns
    -------
    dict
        ``recipes`` (name to its fields), ``input_settings`` (flow input to
        magnifier and alpha), ``epochs`` and ``batch_size`` (the paper's 100
        and 8, the library's defaults), ``rows`` (the keys of
        :data:`FULL_ROWS`).
    """
    from mer_lib.train import RECIPES

    names = list(RECIPES) if recipes is None else list(recipes)
    return {"recipes": {n: RECIPES[n].as_dict() for n in names if n in RECIPES},
            "input_settings": {k: list(v) for k, v in INPUT_SETTINGS.items()},
            "epochs": 100, "batch_size": 8, "rows": [r.key for r in FULL_ROWS]}


def settings_differences(prov):
    """How a results folder's settings differ from the ones the current library would use.

    Parameters
    ----------
    prov : dict
        A results folder's provenance (:func:`validate_results`).

    Returns
    -------
    list of str
        One line per difference ("recipe 'stable': learning_rate was 0.001,
        now 0.0003"); empty when the folder is what the library would
        produce now. Rows or recipes the folder did not run are not
        differences (a folder may hold a subset).
    """
    now = current_settings()
    diffs = []
    for name, fields in (prov.get("recipes") or {}).items():
        if name not in now["recipes"]:
            diffs.append(f"recipe {name!r} no longer exists")
            continue
        for key in sorted(set(fields) | set(now["recipes"][name])):
            was, is_ = fields.get(key, "(absent)"), now["recipes"][name].get(key, "(absent)")
            if was != is_:
                diffs.append(f"recipe {name!r}: {key} was {was!r}, now {is_!r}")
    for kind, value in (prov.get("input_settings") or {}).items():
        if list(value) != now["input_settings"].get(kind):
            diffs.append(f"input {kind!r}: (magnifier, alpha) was {tuple(value)}, now "
                         f"{tuple(now['input_settings'].get(kind) or ('absent',))}")
    for key in ("epochs", "batch_size"):
        if prov.get(key) != now[key]:
            diffs.append(f"{key} was {prov.get(key)!r}, the paper's and the library's is {now[key]!r}")
    gone = [r for r in prov.get("rows") or [] if r not in now["rows"]]
    if gone:
        diffs.append(f"rows no longer in the library's plan: {', '.join(gone)}")
    return diffs


def describe_provenance(prov):
    """A few lines saying where a results folder comes from: commit, device, date, wall time, command.

    Parameters
    ----------
    prov : dict
        A results folder's provenance.

    Returns
    -------
    str
    """
    wall = float(prov.get("wall_seconds") or 0.0)
    commit = prov.get("commit") or "unknown"
    clean = {True: "clean tree", False: "uncommitted changes", None: "tree state unknown"}[prov.get("tree_clean")]
    lines = [f"device:   {prov.get('device')} ({prov.get('keras_backend')} {prov.get('backend_version')}, "
             f"Keras {prov.get('keras_version')}, Python {prov.get('python_version')})",
             f"code:     mer_lib {prov.get('library_version')} at commit {commit[:12]} ({clean})",
             f"date:     {prov.get('date')}",
             f"work:     {prov.get('runs')} training folds, {prov.get('workers')} at once, "
             f"wall time {wall / 60:.1f} min",
             f"command:  {prov.get('command')}"]
    return "\n".join(lines)


def locate_results(name="full"):
    """Find a committed results folder (``book/results/<name>`` of the repository).

    Looks, in order, at the folder named by the environment variable
    ``MER_RESULTS``, then ``results/<name>`` and ``book/results/<name>`` under
    the working directory, then ``book/results/<name>`` beside the installed
    library (a clone installed with ``pip install -e``).

    Parameters
    ----------
    name : str
        The folder's name under ``book/results``.

    Returns
    -------
    pathlib.Path or None
        None when no such folder is found.

    Raises
    ------
    ValueError
        When ``MER_RESULTS`` names a folder that does not exist.
    """
    import mer_lib

    env = os.environ.get("MER_RESULTS")
    if env:
        if not Path(env).is_dir():
            raise ValueError(f"MER_RESULTS={env!r} is not a folder; expected a results folder of `mer reproduce`")
        return Path(env)
    here = Path.cwd()
    for candidate in (here / "results" / name, here / "book" / "results" / name,
                      Path(mer_lib.__file__).resolve().parent.parent / "book" / "results" / name):
        if candidate.is_dir():
            return candidate
    return None
