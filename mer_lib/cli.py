"""The ``mer`` command: SynthME, pre-processing, training, evaluation and the paper's tables.

    mer synth       --out DIR [--seed N] [--fast]
    mer preprocess  --dataset D [--root PATH] --out DIR [--magnify phase|linear|riesz|none] [--alpha A]
                    [--flow tvl1|horn_schunck|opencv|skimage] [--size S] [--jobs N]
    mer train       --dataset D [--root PATH] --out DIR [--model M] [--input pbvm|flow|evm] [--recipe paper|stable]
    mer evaluate    --dataset D [--root PATH] --out DIR [--protocol paper|loso] [--folds K] [--model M] [--input ...]
    mer reproduce   --table 3|4 --dataset D [--root PATH] --out DIR [--protocol paper|loso|both] [--recipe ...]
    mer reproduce   --all --dataset D [--root PATH] --out DIR [--repeats 10] [--workers N]

D is one of synth, casme2 (CAS(ME)^2), casme-ii (CASME II) or megc2019 (the
composite; PATH then holds SMIC/, CASME2/ and SAMM/). M is a model of
:data:`mer_lib.experiments.MODELS`: two_stream (the paper's network),
two_stream_corrected, one_stream, cnn_rnn, frames_stream or flow_stream.

Results are written as CSV files and figures under DIR, and no command
replaces what another wrote there: ``preprocess`` names its inputs file by
dataset, magnifier, flow and size and refuses an existing one of other
settings (alpha, seed, root); ``train`` and ``evaluate`` write a folder per
run (``DIR/train/<run>``, ``DIR/evaluate/<run>``) named by its settings; a
``reproduce`` results folder holds one plan (see
:func:`mer_lib.experiments.reproduce`). One command at a time writes a DIR:
a second one is refused at the start. Every command that reads a database
prints the loader's report (clips kept, left out and why, repaired, the
annotation file) and writes it beside its outputs.

Bad input ends with one line, ``mer: error: ...``, and the exit status 2;
Ctrl-C ends with 130 and SIGTERM with 143, after the worker processes have
stopped (finished clips, epochs and folds are kept: the same command
continues).

``mer reproduce --all`` is the full reproduction (:data:`mer_lib.experiments.FULL_PLAN`):
Tables 3 and 4, the corrected variant, each stream alone and a shuffled-flow
control, Table 4 with the architecture held fixed, PBVM at alpha 5, 10, 20 and
40, with the paper's recipe and the library's stable one and each row's recipe
chosen by nested validation, the paper's recipe in float32 as a control of
precision, under the paper's split (``--repeats`` seeds, each drawing its
split) and leave-one-subject-out, several runs at once on a GPU. It prints how
many trainings the plan needs, writes a results folder (see
:func:`mer_lib.experiments.reproduce`) and continues an interrupted run when
called again with the same ``--out``; ``--cpu-epochs`` shortens every run on a
machine without a GPU (the folder records it).
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from mer_lib import experiments as _ex
from mer_lib import pipeline as _pipeline
from mer_lib import train as _train
from mer_lib._io import atomic_save_npz, atomic_target, atomic_write, atomic_write_text, folder_lock, make_folder
from mer_lib.data import datasets as _data_registry
from mer_lib.env import bounded_threads
from mer_lib.errors import UserInputError

# The choices are read from the library's registries, never listed here.
DATASETS = tuple(_data_registry.DATASETS)
MODELS = tuple(_ex.MODELS)
INPUTS = tuple(_pipeline.INPUT_SETTINGS)
RECIPES = tuple(_train.RECIPES)
PROTOCOLS = tuple(_ex.PROTOCOLS)
MAGNIFIERS = tuple("none" if m is None else m for m in _pipeline.MAGNIFIERS)
#: The side of the network inputs with --fast (as the chapters' fast mode): a quarter of the pixels of 64 x 64.
FAST_SIZE = 32
#: The side of the network inputs otherwise (the paper's 64 x 64).
_NETWORK_SIZE = 64


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CLIError(message)


def _common(p, out=True):
    p.add_argument("--dataset", required=True, choices=DATASETS, help="which data")
    p.add_argument("--root", help="folder of a licensed copy of the database (not needed for synth)")
    if out:
        p.add_argument("--out", required=True, help="folder for the results (CSV files and figures)")
    p.add_argument("--fast", action="store_true",
                   help=f"run small: 10 SynthME clips, inputs of {FAST_SIZE} x {FAST_SIZE}, 1 epoch, 2 runs, 3 folds "
                        "(tests and smoke checks)")
    p.add_argument("--seed", type=int, default=0)


def _parser():
    parser = _Parser(prog="mer", description="Micro-expression recognition, after Yan & Li (CSAE 2020).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("synth", help="generate SynthME and save it")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fast", action="store_true")
    p = sub.add_parser("preprocess", help="magnify, compute optical flow, resize and normalise")
    _common(p)
    p.add_argument("--magnify", default="phase", choices=MAGNIFIERS)
    p.add_argument("--alpha", type=float, default=20.0)
    p.add_argument("--flow", default="tvl1", choices=_pipeline.FLOWS)
    p.add_argument("--size", type=int, default=None, help=f"default {_NETWORK_SIZE} ({FAST_SIZE} with --fast)")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: every usable core)")
    for name, helptext in (("train", "train a model on the training part of the paper's split"),
                           ("evaluate", "train and test under a protocol, scores and confusion matrix")):
        p = sub.add_parser(name, help=helptext)
        _common(p)
        p.add_argument("--model", default="two_stream", choices=MODELS)
        p.add_argument("--input", default="pbvm", choices=INPUTS, help="the flow stream's input")
        p.add_argument("--recipe", default="paper", choices=RECIPES,
                       help="paper: as published; stable: the library's recommendation (chapter 10)")
        p.add_argument("--epochs", type=int, default=None, help="default 100 (1 with --fast)")
        p.add_argument("--cpu-epochs", type=int, default=None, help="shorten the run when there is no GPU")
        p.add_argument("--batch-size", type=int, default=None, help="default 8 (the paper's)")
        if name == "evaluate":
            p.add_argument("--protocol", default="loso", choices=PROTOCOLS)
            p.add_argument("--folds", type=int, default=None, help="subject-disjoint folds instead of one per subject")
    p = sub.add_parser("reproduce", help="reproduce the paper's Table 3 or 4, or everything (--all)")
    _common(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--table", type=int, choices=(3, 4))
    which.add_argument("--all", action="store_true",
                       help="Tables 3 and 4, the controls (the architecture held fixed, PBVM at alpha 5-40, "
                            "the paper's recipe in float32), both recipes and each row's recipe chosen by "
                            "nested validation, both protocols, repeated runs")
    p.add_argument("--protocol", default=None, choices=PROTOCOLS + ("both",),
                   help="default: both with --all, paper with --table")
    p.add_argument("--recipe", default=None, choices=RECIPES + ("both",),
                   help="default: both with --all, paper with --table")
    p.add_argument("--repeats", type=int, default=None,
                   help="runs under the paper's split, each with its own split and seed (default 10 with --all, "
                        "5 with --table; 2 with --fast)")
    p.add_argument("--loso-seeds", type=int, default=1, help="runs under leave-one-subject-out (default 1)")
    p.add_argument("--loso-rows", default=None,
                   help="comma-separated row keys run under leave-one-subject-out (default: every row)")
    p.add_argument("--loso-recipe", default=None, choices=RECIPES,
                   help="the one recipe run under leave-one-subject-out (default: every recipe)")
    p.add_argument("--workers", type=int, default=None,
                   help="training runs at once (default: up to 8 on a GPU, 1 on a CPU)")
    p.add_argument("--epochs", type=int, default=None, help="default 100 (1 with --fast)")
    p.add_argument("--cpu-epochs", type=int, default=None,
                   help="on a machine without a GPU, train this many epochs per run (recorded in the folder)")
    p.add_argument("--folds", type=int, default=None, help="subject-disjoint folds instead of one per subject")
    p.add_argument("--reuse", default=None, metavar="DIR",
                   help="a folder of run records of an earlier call: the folds of this plan found there are not "
                        "trained again")
    p.add_argument("--trainer", default="auto", choices=("auto", "fit", "batched"),
                   help="fit: one fold at a time (Keras' fit); batched: the folds of one architecture many at once "
                        "in one compiled program (Keras on JAX); default: batched on JAX, fit otherwise")
    p.add_argument("--max-batch", type=int, default=None,
                   help="batched: folds per compiled program at most (default 64 with a GPU, 8 without)")
    p.add_argument("--trainings-per-process", type=int, default=10, metavar="N",
                   help="fit: train in a worker process replaced after N trainings, so that a long plan's "
                        "memory does not grow (default 10)")
    return parser


def _check_args(args):
    """Validate the arguments before any work starts; fill in the mode-dependent defaults."""
    for name in ("epochs", "cpu_epochs", "repeats", "loso_seeds", "workers", "batch_size", "jobs", "max_batch",
                 "trainings_per_process"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    if getattr(args, "seed", 0) < 0:
        raise CLIError(f"--seed must be a non-negative integer, got {args.seed}")
    alpha = getattr(args, "alpha", None)
    if alpha is not None and not np.isfinite(alpha):
        raise CLIError(f"--alpha must be a finite number, got {alpha}")
    if getattr(args, "size", None) is not None and args.size < 8:
        raise CLIError(f"--size must be at least 8, got {args.size}")
    if getattr(args, "folds", None) is not None and args.folds < 2:
        raise CLIError(f"--folds must be at least 2, got {args.folds}")
    defaults = _ex.folds.library_defaults()
    if hasattr(args, "size") and args.size is None:
        args.size = _input_size(args)
    if hasattr(args, "epochs") and args.epochs is None:
        args.epochs = 1 if args.fast else defaults["epochs"]
    if hasattr(args, "batch_size") and args.batch_size is None:
        args.batch_size = defaults["batch_size"]
    if args.command == "reproduce":
        args.batch_size = defaults["batch_size"]
        if args.repeats is None:        # --all: the full plan's 10 random splits
            args.repeats = 2 if args.fast else (10 if args.all else 5)
        if args.protocol is None:
            args.protocol = "both" if args.all else "paper"
        if args.recipe is None:
            args.recipe = "both" if args.all else "paper"
        # --all: Tables 3 and 4, the controls, the architecture held fixed, the alpha sweep (FULL_PLAN)
        args.rows = _ex.unique_rows(_ex.FULL_PLAN["rows"] if args.all else _ex.TABLE3 if args.table == 3
                                    else _ex.TABLE4)
        args.recipes = tuple(RECIPES) if args.recipe == "both" else (args.recipe,)
        args.controls = {}
        if args.all and args.recipe == "both":      # the precision control and the nested recipe choice
            args.recipes = tuple(_ex.FULL_PLAN["recipes"])
            args.controls = dict(recipe_rows=_ex.FULL_PLAN["recipe_rows"], nested=_ex.FULL_PLAN["nested"])
        args.protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
        if args.loso_rows is not None:
            names = [k for k in args.loso_rows.split(",") if k]
            args.loso_rows = _ex.select_rows(names, args.rows, "--loso-rows")
        if args.loso_recipe is not None and args.loso_recipe not in args.recipes:
            raise CLIError(f"--loso-recipe {args.loso_recipe} is not among the recipes run (--recipe {args.recipe})")
        args.loso_recipes = [args.loso_recipe] if args.loso_recipe is not None else (
            list(_ex.FULL_PLAN["loso_recipes"]) if args.controls else None)
    if getattr(args, "reuse", None) is not None and not Path(args.reuse).is_dir():
        raise CLIError(f"--reuse {args.reuse!r} is not a folder; expected a folder of run records (runs/)")
    root = getattr(args, "root", None)
    if root is not None and Path(root).exists() and not Path(root).is_dir():
        raise CLIError(f"--root {root!r} is a file; expected the folder of the database")
    if root is None and getattr(args, "dataset", "synth") != "synth":
        raise CLIError(f"--root PATH is required for --dataset {args.dataset} (the folder of your licensed copy)")
    _check_out(args.out)


def _check_out(path):
    """--out must be a folder this user can write, or a path where one can be made."""
    import os

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {str(out)!r} is a file; expected a folder (existing or new)")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise CLIError(f"--out {str(out)!r}: cannot write in {str(probe)!r}")


def _claim(folder, name, settings):
    """Outputs named ``name`` in ``folder`` belong to these settings: refuse ones another command wrote.

    ``<name>.json`` records the settings; an existing one of other settings,
    or an output of that name without one, is a one-line refusal naming the
    first difference.
    """
    record = Path(folder) / f"{name}.json"
    if record.exists():
        try:
            earlier = json.loads(record.read_text())
        except (ValueError, UnicodeDecodeError):
            earlier = None
        if earlier is None or not isinstance(earlier, dict):
            raise UserInputError(f"{record} is not valid JSON: the outputs {name}.* of --out {str(folder)!r} cannot "
                                 "be told apart from another command's; use another --out")
        differs = [k for k in sorted(set(earlier) | set(settings)) if earlier.get(k) != settings.get(k)]
        if differs:
            k = differs[0]
            raise UserInputError(f"--out {str(folder)!r} already holds {name}.* made with {k} {earlier.get(k)!r} "
                                 f"(this command: {settings.get(k)!r}); use another --out")
    elif any(Path(folder).glob(f"{name}.*")):
        raise UserInputError(f"--out {str(folder)!r} holds {name}.* of an unknown command (no {record.name}); use "
                             "another --out")
    atomic_write_text(record, json.dumps(settings, indent=1))
    return record


def _load(args, report_to=None):
    """The dataset of the arguments and the loader's report as JSON text; prints the report, writes it to
    ``report_to`` when given."""
    data = _data_registry.load_dataset(args.dataset, args.root, fast=args.fast, seed=args.seed,
                                       cache_dir=Path(args.out) / "clips")
    reports = data.report if isinstance(data.report, list) else [data.report]
    for report in reports:
        print(str(report))
    text = json.dumps({"dataset": args.dataset, "root": args.root, "seed": args.seed, "fast": bool(args.fast),
                       "n_clips": int(len(data.labels)),
                       "report": [r.to_dict() for r in reports] if len(reports) > 1 else reports[0].to_dict()},
                      indent=1)
    if report_to is not None:
        atomic_write_text(report_to, text)
    return data, text


def _check_data(args, data, n_folds=None):
    """Before any pre-processing: a dataset of one class, or more folds than subjects, is an error."""
    for line in _ex.check_classes(data.labels, len(data.class_names), data.class_names):
        print(f"warning: {line}")
    n_subjects = len(np.unique(data.subjects))
    if n_folds is not None and n_folds > n_subjects:
        raise UserInputError(f"--folds {n_folds}: the dataset has {n_subjects} subjects; give at most {n_subjects}")


def _settings(args, **more):
    """What makes a command's outputs what they are (recorded beside them)."""
    root = None if args.root is None else str(Path(args.root).resolve())
    return {"command": args.command, "dataset": args.dataset, "root": root, "fast": bool(args.fast),
            "seed": args.seed, **more}


def _effective_epochs(args):
    from mer_lib.env import gpu_names

    if args.cpu_epochs is not None and args.cpu_epochs < args.epochs and not gpu_names():
        return args.cpu_epochs
    return args.epochs


def _save_figure(fig, path, dpi=100):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write(path, lambda f: f.write(buffer.getvalue()), suffix=".png")


def cmd_synth(args):
    """``mer synth``: SynthME as synthme.npz, synthme.csv and a figure of its classes."""
    import pandas as pd
    from matplotlib.figure import Figure

    from mer_lib.data import synthetic_dataset

    out = make_folder(args.out)
    _claim(out, "synthme", {"command": "synth", "seed": args.seed, "fast": bool(args.fast)})
    ds = (synthetic_dataset(seed=args.seed, counts=(4, 4, 2), n_subjects=4, size=64) if args.fast
          else synthetic_dataset(seed=args.seed, progress=True))
    atomic_save_npz(out / "synthme.npz", frames=ds.frames, flow=ds.flow, labels=ds.labels, subjects=ds.subjects,
                    apex=ds.apex, class_names=np.array(ds.class_names))
    atomic_write_text(out / "synthme.csv", pd.DataFrame(
        {"clip": range(len(ds)), "subject": ds.subjects, "label": ds.label_names(), "apex": ds.apex,
         "action_units": ["+".join(a) for a in ds.action_units]}).to_csv(index=False))
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    ax.bar(list(ds.counts()), list(ds.counts().values()))
    ax.set_title("SynthME clips per class")
    _save_figure(fig, out / "synthme_classes.png")
    print(f"wrote {len(ds)} clips to {out / 'synthme.npz'} ({ds.counts()})")


def cmd_preprocess(args):
    """``mer preprocess``: the network inputs of a dataset, named by what makes them, with the loader's report."""
    import pandas as pd

    from mer_lib.pipeline import preprocess

    out = make_folder(args.out)
    name = f"inputs-{args.dataset}-{args.magnify}-{args.flow}-{args.size}"
    _claim(out, name, _settings(args, magnify=args.magnify, alpha=float(args.alpha), flow=args.flow, size=args.size))
    data, _ = _load(args, out / f"{name}.load_report.json")
    magnify = None if args.magnify == "none" else args.magnify
    prepared = preprocess(data.clips, magnify, args.alpha, args.flow, args.size, apex=data.apex,
                          cache_dir=out / "cache", n_jobs=args.jobs)
    atomic_save_npz(out / f"{name}.npz", frames=prepared.frames, flow=prepared.flow, labels=data.labels,
                    subjects=np.asarray(data.subjects).astype(str))
    atomic_write_text(out / f"{name}.csv", pd.DataFrame(
        {"clip": range(len(data.labels)), "subject": data.subjects,
         "label": [data.class_names[i] for i in data.labels]}).to_csv(index=False))
    print(f"wrote {out / (name + '.npz')}: frames {prepared.frames.shape}, flow {prepared.flow.shape}")


def _row(args):
    flow_input = args.input if _ex.MODELS[args.model] in ("both", "flow") else None
    return _ex.Row(f"{args.model} ({flow_input or 'frames'})", args.model, flow_input)


def _input_size(args):
    """The side of the network inputs: :data:`FAST_SIZE` with --fast, the pipeline's default otherwise."""
    return FAST_SIZE if args.fast else _NETWORK_SIZE


def _inputs(args, data, kinds):
    """The frames and a flow input per kind (:func:`mer_lib.pipeline.network_inputs`), cached under --out."""
    return _pipeline.network_inputs(data.clips, kinds, apex=data.apex, size=_input_size(args),
                                    cache_dir=Path(args.out) / "cache")


def _run_folder(args, kind, name, settings):
    folder = make_folder(Path(args.out) / kind / name)
    _claim(folder, "run", settings)
    return folder


def _plot_history(history, title, path, n_classes):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3))
    axes = fig.subplots(1, 2)
    epochs = np.arange(1, len(history["loss"]) + 1)
    for key in ("loss", "val_loss"):
        if key in history:
            axes[0].plot(epochs, history[key], label=key)
    for key in ("accuracy", "val_accuracy"):
        if key in history:
            axes[1].plot(epochs, history[key], label=key)
    axes[0].axhline(np.log(n_classes), color="grey", ls=":", lw=1, label=f"ln {n_classes}")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    axes[0].set_title(title, fontsize=9)
    fig.tight_layout()
    _save_figure(fig, path)


def cmd_train(args):
    """``mer train``: one model on the training side of the paper's split, in a folder of its own."""
    import pandas as pd

    from mer_lib.splits import paper_split
    from mer_lib.train import get_recipe, train

    row = _row(args)
    recipe = get_recipe(args.recipe)
    epochs = _effective_epochs(args)
    name = f"{row.key}-{recipe.name}-s{args.seed}-e{epochs}-b{args.batch_size}"
    folder = _run_folder(args, "train", name, _settings(args, model=args.model, input=row.flow_input,
                                                        recipe=recipe.name, epochs=epochs, batch_size=args.batch_size))
    data, _ = _load(args, folder / "load_report.json")
    _check_data(args, data)
    n_classes = len(data.class_names)
    frames, flows = _inputs(args, data, [row.flow_input] if row.flow_input else [])
    train_idx, _ = paper_split(data.labels, 0.2, args.seed)
    flow_shape = flows[row.flow_input].shape[1:] if row.flow_input else None
    result = train(_ex.build(row.model, frames.shape[1:], flow_shape, n_classes, recipe.normalization),
                   _ex.row_inputs(row, frames, flows, train_idx), data.labels[train_idx], recipe=recipe,
                   n_classes=n_classes, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                   groups=np.asarray(data.subjects)[train_idx], checkpoint_dir=folder / "checkpoint",
                   cpu_epochs=args.cpu_epochs)
    history = pd.DataFrame(result.history)
    history.index = np.arange(1, len(history) + 1)
    history.index.name = "epoch"
    atomic_write_text(folder / "history.csv", history.to_csv())
    _plot_history(result.history, f"{row.label}, {recipe.name} recipe", folder / "learning_curve.png", n_classes)
    with atomic_target(folder / "model.keras") as tmp:
        result.model.save(tmp)
    print(f"trained {row.label} ({recipe.name} recipe) for {result.epochs} epochs on {result.device}; "
          f"loss at initialisation {result.initial_loss:.3f} (ln {n_classes} = {np.log(n_classes):.3f}); "
          f"weights of epoch {result.best_epoch}; wrote {folder}/ (history.csv, model.keras, learning_curve.png)")
    for warning in result.data_warnings + result.warnings:
        print(f"warning: {warning}")


def cmd_evaluate(args):
    """``mer evaluate``: one model trained and tested under a protocol, in a folder of its own."""
    import pandas as pd
    from matplotlib.figure import Figure

    from mer_lib.evaluate import bootstrap_metric, plot_confusion

    row = _row(args)
    folds = args.folds if args.folds is not None else (3 if args.fast and args.protocol == "loso" else None)
    epochs = _effective_epochs(args)
    name = (f"{row.key}-{args.recipe}-{args.protocol}" + (f"-k{folds}" if args.protocol == "loso" and folds else "")
            + f"-s{args.seed}-e{epochs}-b{args.batch_size}")
    folder = _run_folder(args, "evaluate", name, _settings(
        args, model=args.model, input=row.flow_input, recipe=args.recipe, protocol=args.protocol, folds=folds,
        epochs=epochs, batch_size=args.batch_size))
    data, _ = _load(args, folder / "load_report.json")
    _check_data(args, data, folds if args.protocol == "loso" else None)
    names = list(data.class_names)
    frames, flows = _inputs(args, data, [row.flow_input] if row.flow_input else [])
    result = _ex.run_row(row, frames, flows, data.labels, data.subjects, args.protocol, recipe=args.recipe,
                         n_folds=folds, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                         n_classes=len(names), checkpoint_root=folder / "checkpoints", cpu_epochs=args.cpu_epochs)
    s = result["scores"]
    ci = bootstrap_metric(result["y_true"], result["y_pred"], "uf1", len(names))
    data_warnings = sorted({w for ws in result["data_warnings"] for w in ws})
    atomic_write_text(folder / "scores.csv", pd.DataFrame([{
        "method": row.label, "recipe": args.recipe, "protocol": args.protocol, "folds": result["folds"],
        "accuracy": s["accuracy"], "UF1": s["uf1"], "UF1 ci_low": ci["ci_low"], "UF1 ci_high": ci["ci_high"],
        "UAR": s["uar"], **{f"recall {n}": r for n, r in zip(names, s["recall"])},
        "warnings": " | ".join(sorted({w for ws in result["warnings"] for w in ws})),
        "data_warnings": " | ".join(data_warnings)}]).to_csv(index=False))
    fig = Figure(figsize=(3.8, 3.4))
    plot_confusion(result["confusion"], names, ax=fig.subplots(), title=f"{row.label}, {args.protocol}")
    _save_figure(fig, folder / "confusion.png")
    print(f"{row.label}, {args.recipe} recipe, {args.protocol} ({result['folds']} folds): accuracy "
          f"{s['accuracy']:.3f}, UF1 {s['uf1']:.3f} (95% interval over the test clips {ci['ci_low']:.3f} to "
          f"{ci['ci_high']:.3f}), UAR {s['uar']:.3f}; wrote {folder / 'scores.csv'}")
    for warning in data_warnings + sorted({w for ws in result["warnings"] for w in ws}):
        print(f"warning: {warning}")


def cmd_reproduce(args):
    """``mer reproduce``: Table 3, Table 4 or everything, as a results folder of one plan."""
    results = Path(args.out) / ("results" if args.all else f"table{args.table}")
    data, report = _load(args)
    folds = args.folds if args.folds is not None else (3 if args.fast else None)
    _check_data(args, data, folds if "loso" in args.protocols else None)
    names = list(data.class_names)
    kinds = sorted({r.flow_input for r in args.rows if r.flow_input})
    count = _ex.count_trainings(dict(rows=args.rows, recipes=args.recipes, protocols=args.protocols,
                                     repeats=args.repeats, loso_seeds=args.loso_seeds, n_folds=folds,
                                     loso_rows=args.loso_rows, loso_recipes=args.loso_recipes, **args.controls),
                                len(np.unique(data.subjects)))
    print(f"the plan needs {count['total']} trainings: "
          + ", ".join(f"{part} {n}" for part, n in count["by_part"].items()))
    frames, flows = _inputs(args, data, kinds)
    _ex.reproduce(results, frames, flows, data.labels, data.subjects, rows=args.rows, recipes=args.recipes,
                protocols=args.protocols, repeats=args.repeats, loso_seeds=args.loso_seeds, n_folds=folds,
                epochs=args.epochs, batch_size=args.batch_size, class_names=names, n_classes=len(names),
                workers="auto" if args.workers is None else args.workers, command=args.command_line,
                loso_rows=args.loso_rows, cpu_epochs=args.cpu_epochs, reuse=args.reuse,
                loso_recipes=args.loso_recipes,
                trainer=args.trainer, max_batch="auto" if args.max_batch is None else args.max_batch,
                trainings_per_process=args.trainings_per_process,
                dataset={"name": args.dataset, "root": args.root, "fast": bool(args.fast),
                         "seed": args.seed, "n_clips": int(len(data.labels)),
                         "n_subjects": int(len(np.unique(data.subjects))), "class_names": names},
                **args.controls)
    atomic_write_text(results / "load_report.json", report)     # the data of the folder's one plan
    import pandas as pd

    for table_id in (3, 4):
        if not args.all and table_id != args.table:
            continue
        beside = pd.read_csv(results / f"table{table_id}.csv")       # written by the summary
        if beside.empty:
            continue
        print(f"Table {table_id} (mean over runs; the paper's numbers beside):")
        print(beside[["method", "recipe", "protocol", "runs", "accuracy", "UF1", "UF1 sd", "interval", "status",
                      "paper accuracy", "paper F1"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote the results folder {results}")


def main(argv=None):
    """Entry point of the ``mer`` command; returns the exit status."""
    from mer_lib._pool import Terminated, sigterm_raises
    from mer_lib.data.loaders import DatasetLayoutError
    from mer_lib.env import quiet_tensorflow

    quiet_tensorflow()      # this process's own output: no TensorFlow start-up lines
    try:
        with sigterm_raises():
            args = _parser().parse_args(argv)
            args.command_line = "mer " + shlex.join(sys.argv[1:] if argv is None else list(argv))
            _check_args(args)
            command = {"synth": cmd_synth, "preprocess": cmd_preprocess, "train": cmd_train,
                       "evaluate": cmd_evaluate, "reproduce": cmd_reproduce}[args.command]
            # every thread pool and the pre-processing's processes sized from the usable cores
            with folder_lock(args.out, args.command_line), bounded_threads():
                command(args)
        return 0
    except (CLIError, UserInputError, DatasetLayoutError, FileNotFoundError) as err:
        # the user's errors (arguments, the database's layout, missing files, a refusal the
        # library signals with UserInputError); any other exception, a plain ValueError
        # included, is a bug to report, with its traceback
        message = " ".join(str(err).split())
        print(f"mer: error: {message}", file=sys.stderr)
        return 2
    except Terminated:
        print("mer: terminated (finished clips, epochs and folds are kept; run the same command to continue)",
              file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("mer: interrupted (finished clips, epochs and folds are kept; run the same command to continue)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
