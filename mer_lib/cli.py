"""The ``mer`` command: SynthME, pre-processing, training, evaluation and the paper's tables.

    mer synth       --out DIR [--seed N] [--fast]
    mer preprocess  --dataset D [--root PATH] --out DIR [--magnify phase|linear|riesz|none] [--flow tvl1|...]
    mer train       --dataset D [--root PATH] --out DIR [--model two_stream|one_stream|cnn_rnn] [--input pbvm|flow|evm]
    mer evaluate    --dataset D [--root PATH] --out DIR [--protocol paper|loso] [--model ...] [--input ...]
    mer reproduce   --table 3|4 --dataset D [--root PATH] --out DIR [--protocol paper|loso|both] [--recipe ...]
    mer reproduce   --all --dataset D [--root PATH] --out DIR [--repeats 10] [--workers N]

D is one of synth, casme2 (CAS(ME)^2), casme-ii (CASME II) or megc2019 (the
composite; PATH then holds SMIC/, CASME2/ and SAMM/). Results are written as
CSV files and figures under DIR. Bad input ends with a one-line message and a
non-zero exit status.

``mer reproduce --all`` is the full reproduction (:data:`mer_lib.experiments.FULL_PLAN`):
Tables 3 and 4, the corrected variant, each stream alone and a shuffled-flow
control, Table 4 with the architecture held fixed, PBVM at alpha 5, 10, 20 and
40, with the paper's recipe and the library's stable one and each row's recipe
chosen by nested validation, the paper's recipe in float32 as a control of
precision, under the paper's split (``--repeats`` seeds, each drawing its
split) and leave-one-subject-out, several runs at once on a GPU. It prints how
many trainings the plan needs, writes a results folder (see
:func:`mer_lib.experiments.reproduce`) and continues an interrupted run when
called again with the same ``--out``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from mer_lib import experiments as _ex
from mer_lib import pipeline as _pipeline
from mer_lib import train as _train
from mer_lib.data import datasets as _data_registry

# The choices are read from the library's registries, never listed here.
DATASETS = tuple(_data_registry.DATASETS)
MODELS = tuple(_ex.MODELS)
INPUTS = tuple(_pipeline.INPUT_SETTINGS)
RECIPES = tuple(_train.RECIPES)
MAGNIFIERS = tuple("none" if m is None else m for m in _pipeline.MAGNIFIERS)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CLIError(message)


def load_dataset(name, root=None, fast=False, cache=None, seed=0):
    """Clips (N, T, H, W), labels, subjects, apex indices and class names (:func:`mer_lib.data.load_dataset`)."""
    return tuple(_data_registry.load_dataset(name, root, fast=fast, cache_dir=cache, seed=seed))


def _common(p, out=True):
    p.add_argument("--dataset", required=True, choices=DATASETS, help="which data")
    p.add_argument("--root", help="folder of a licensed copy of the database (not needed for synth)")
    if out:
        p.add_argument("--out", required=True, help="folder for the results (CSV files and figures)")
    p.add_argument("--fast", action="store_true",
                   help="run small: 10 SynthME clips, 1 epoch, 2 runs, 3 folds (tests and smoke checks)")
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
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--jobs", type=int, default=None, help="processes (default: every core)")
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
        p.add_argument("--batch-size", type=int, default=8)
        if name == "evaluate":
            p.add_argument("--protocol", default="loso", choices=("paper", "loso"))
            p.add_argument("--folds", type=int, default=None, help="subject-disjoint folds instead of one per subject")
    p = sub.add_parser("reproduce", help="reproduce the paper's Table 3 or 4, or everything (--all)")
    _common(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--table", type=int, choices=(3, 4))
    which.add_argument("--all", action="store_true",
                       help="Tables 3 and 4, the controls (the architecture held fixed, PBVM at alpha 5-40, "
                            "the paper's recipe in float32), both recipes and each row's recipe chosen by "
                            "nested validation, both protocols, repeated runs")
    p.add_argument("--protocol", default=None, choices=("paper", "loso", "both"),
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
    p.add_argument("--cpu-epochs", type=int, default=None)
    p.add_argument("--folds", type=int, default=None)
    return parser


def _check_args(args):
    """Validate the arguments before any work starts; fill in the mode-dependent defaults."""
    for name in ("epochs", "cpu_epochs", "repeats", "loso_seeds", "workers", "batch_size", "jobs"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be a positive integer, got {value}")
    alpha = getattr(args, "alpha", None)
    if alpha is not None and not np.isfinite(alpha):
        raise CLIError(f"--alpha must be a finite number, got {alpha}")
    if getattr(args, "size", None) is not None and args.size < 8:
        raise CLIError(f"--size must be at least 8, got {args.size}")
    if getattr(args, "folds", None) is not None and args.folds < 2:
        raise CLIError(f"--folds must be at least 2, got {args.folds}")
    if hasattr(args, "epochs") and args.epochs is None:
        args.epochs = 1 if args.fast else 100
    if args.command == "reproduce":
        if args.repeats is None:        # --all: the full plan's 10 random splits
            args.repeats = 2 if args.fast else (10 if args.all else 5)
        if args.protocol is None:
            args.protocol = "both" if args.all else "paper"
        if args.recipe is None:
            args.recipe = "both" if args.all else "paper"
    root = getattr(args, "root", None)
    if root is not None and Path(root).exists() and not Path(root).is_dir():
        raise CLIError(f"--root {root!r} is a file; expected the folder of the database")
    if root is None and getattr(args, "dataset", "synth") != "synth":
        raise CLIError(f"--root PATH is required for --dataset {args.dataset} (the folder of your licensed copy)")
    _check_out(args.out)


def _check_out(path):
    """--out must be a folder this user can write, or a path where one can be made."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {str(out)!r} is a file; expected a folder (existing or new)")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise CLIError(f"--out {str(out)!r}: cannot write in {str(probe)!r}")


def _out(path):
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _inputs(args, clips, apex, kinds):
    """The frames and a flow input per kind (:func:`mer_lib.pipeline.network_inputs`), cached under --out."""
    return _pipeline.network_inputs(clips, kinds, apex=apex, cache_dir=Path(args.out) / "cache")


def cmd_synth(args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from mer_lib.data import synthetic_dataset
    from mer_lib._io import atomic_save_npz

    out = _out(args.out)
    ds = (synthetic_dataset(seed=args.seed, counts=(4, 4, 2), n_subjects=4, size=64) if args.fast
          else synthetic_dataset(seed=args.seed, progress=True))
    atomic_save_npz(out / "synthme.npz", frames=ds.frames, flow=ds.flow, labels=ds.labels, subjects=ds.subjects,
                    apex=ds.apex, class_names=np.array(ds.class_names))
    pd.DataFrame({"clip": range(len(ds)), "subject": ds.subjects, "label": ds.label_names(), "apex": ds.apex,
                  "action_units": ["+".join(a) for a in ds.action_units]}).to_csv(out / "synthme.csv", index=False)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(list(ds.counts()), list(ds.counts().values()))
    ax.set_title("SynthME clips per class")
    fig.savefig(out / "synthme_classes.png", dpi=100, bbox_inches="tight")
    print(f"wrote {len(ds)} clips to {out / 'synthme.npz'} ({ds.counts()})")


def cmd_preprocess(args):
    import pandas as pd

    from mer_lib._io import atomic_save_npz
    from mer_lib.pipeline import preprocess

    out = _out(args.out)
    clips, labels, subjects, apex, names = load_dataset(args.dataset, args.root, args.fast, out / "clips", args.seed)
    magnify = None if args.magnify == "none" else args.magnify
    prepared = preprocess(clips, magnify, args.alpha, args.flow, args.size, apex=apex, cache_dir=out / "cache",
                          n_jobs=args.jobs)
    name = f"inputs-{args.dataset}-{args.magnify}-{args.flow}-{args.size}.npz"
    atomic_save_npz(out / name, frames=prepared.frames, flow=prepared.flow, labels=labels,
                    subjects=np.asarray(subjects).astype(str))
    pd.DataFrame({"clip": range(len(labels)), "subject": subjects, "label": [names[i] for i in labels]}).to_csv(
        out / f"{Path(name).stem}.csv", index=False)
    print(f"wrote {out / name}: frames {prepared.frames.shape}, flow {prepared.flow.shape}")


def _row(args):
    from mer_lib.experiments import Row

    flow_input = args.input if _ex.MODELS[args.model] in ("both", "flow") else None
    return Row(f"{args.model} ({flow_input or 'frames'})", args.model, flow_input)


def _plot_history(history, title, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    epochs = np.arange(1, len(history["loss"]) + 1)
    for key in ("loss", "val_loss"):
        if key in history:
            axes[0].plot(epochs, history[key], label=key)
    for key in ("accuracy", "val_accuracy"):
        if key in history:
            axes[1].plot(epochs, history[key], label=key)
    axes[0].axhline(np.log(3), color="grey", ls=":", lw=1, label="ln 3")
    for ax in axes:
        ax.set_xlabel("epoch"); ax.legend(fontsize=8)
    axes[0].set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cmd_train(args):
    import pandas as pd

    from mer_lib.splits import paper_split
    from mer_lib.experiments import build, row_inputs
    from mer_lib.train import get_recipe, train

    out = _out(args.out)
    clips, labels, subjects, apex, names = load_dataset(args.dataset, args.root, args.fast, out / "clips", args.seed)
    row = _row(args)
    recipe = get_recipe(args.recipe)
    frames, flows = _inputs(args, clips, apex, [row.flow_input] if row.flow_input else [])
    train_idx, _ = paper_split(labels, 0.2, args.seed)
    flow_shape = flows[row.flow_input].shape[1:] if row.flow_input else None
    result = train(build(row.model, frames.shape[1:], flow_shape, len(names), recipe.normalization),
                   row_inputs(row, frames, flows, train_idx), labels[train_idx], recipe=recipe, n_classes=len(names),
                   epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                   groups=np.asarray(subjects)[train_idx],
                   checkpoint_dir=out / "checkpoints" / f"{row.key}-{recipe.name}", cpu_epochs=args.cpu_epochs)
    history = pd.DataFrame(result.history)
    history.index = np.arange(1, len(history) + 1)
    history.index.name = "epoch"
    history.to_csv(out / "history.csv")
    _plot_history(result.history, f"{row.label}, {recipe.name} recipe", out / "learning_curve.png")
    result.model.save(out / "model.keras")
    print(f"trained {row.label} ({recipe.name} recipe) for {result.epochs} epochs on {result.device}; "
          f"loss at initialisation {result.initial_loss:.3f} (ln {len(names)} = {np.log(len(names)):.3f}); "
          f"weights of epoch {result.best_epoch}; wrote {out / 'history.csv'} and {out / 'model.keras'}")
    for warning in result.warnings:
        print(f"warning: {warning}")


def cmd_evaluate(args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from mer_lib.evaluate import bootstrap_metric, plot_confusion
    from mer_lib.experiments import run_row

    out = _out(args.out)
    clips, labels, subjects, apex, names = load_dataset(args.dataset, args.root, args.fast, out / "clips", args.seed)
    row = _row(args)
    frames, flows = _inputs(args, clips, apex, [row.flow_input] if row.flow_input else [])
    folds = args.folds if args.folds is not None else (3 if args.fast and args.protocol == "loso" else None)
    result = run_row(row, frames, flows, labels, subjects, args.protocol, recipe=args.recipe, n_folds=folds,
                     epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, n_classes=len(names),
                     checkpoint_root=out / "checkpoints", cpu_epochs=args.cpu_epochs)
    s = result["scores"]
    ci = bootstrap_metric(result["y_true"], result["y_pred"], "uf1", len(names))
    pd.DataFrame([{"method": row.label, "recipe": args.recipe, "protocol": args.protocol, "folds": result["folds"],
                   "accuracy": s["accuracy"], "UF1": s["uf1"], "UF1 ci_low": ci["ci_low"], "UF1 ci_high": ci["ci_high"],
                   "UAR": s["uar"], **{f"recall {n}": r for n, r in zip(names, s["recall"])},
                   "warnings": " | ".join(sorted({w for ws in result["warnings"] for w in ws}))}]).to_csv(
        out / "scores.csv", index=False)
    ax = plot_confusion(result["confusion"], names, title=f"{row.label}, {args.protocol}")
    ax.figure.savefig(out / "confusion.png", dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"{row.label}, {args.recipe} recipe, {args.protocol} ({result['folds']} folds): accuracy "
          f"{s['accuracy']:.3f}, UF1 {s['uf1']:.3f} (95% interval over the test clips {ci['ci_low']:.3f} to "
          f"{ci['ci_high']:.3f}), UAR {s['uar']:.3f}; wrote {out / 'scores.csv'}")
    for warning in sorted({w for ws in result["warnings"] for w in ws}):
        print(f"warning: {warning}")


def cmd_reproduce(args):
    from mer_lib import experiments as ex

    out = _out(args.out)
    clips, labels, subjects, apex, names = load_dataset(args.dataset, args.root, args.fast, out / "clips", args.seed)
    plan = dict(ex.FULL_PLAN) if args.all else {}
    if args.all:
        rows = plan["rows"]           # Tables 3 and 4, the controls, the architecture held fixed, the alpha sweep
    else:
        rows = ex.TABLE3 if args.table == 3 else ex.TABLE4
    kinds = sorted({r.flow_input for r in rows if r.flow_input})
    frames, flows = _inputs(args, clips, apex, kinds)
    folds = args.folds if args.folds is not None else (3 if args.fast else None)
    recipes = ("paper", "stable") if args.recipe == "both" else (args.recipe,)
    controls = {}
    if args.all and args.recipe == "both":      # the precision control and the nested recipe choice
        recipes = plan["recipes"]
        controls = dict(recipe_rows=plan["recipe_rows"], nested=plan["nested"])
    protocols = ("paper", "loso") if args.protocol == "both" else (args.protocol,)
    loso_recipes = [args.loso_recipe] if args.loso_recipe is not None else (
        list(plan["loso_recipes"]) if args.all and args.recipe == "both" else None)
    loso_rows = None if args.loso_rows is None else [k for k in args.loso_rows.split(",") if k]
    count = ex.count_trainings(dict(rows=ex.unique_rows(rows), recipes=recipes, protocols=protocols,
                                    repeats=args.repeats, loso_seeds=args.loso_seeds, n_folds=folds,
                                    loso_rows=loso_rows, loso_recipes=loso_recipes, **controls),
                               len(np.unique(subjects)))
    print(f"the plan needs {count['total']} trainings: "
          + ", ".join(f"{part} {n}" for part, n in count["by_part"].items()))
    results = out / ("results" if args.all else f"table{args.table}")
    ex.reproduce(results, frames, flows, labels, subjects, rows=ex.unique_rows(rows), recipes=recipes,
                 protocols=protocols, repeats=args.repeats, loso_seeds=args.loso_seeds, n_folds=folds,
                 epochs=args.epochs, class_names=list(names), n_classes=len(names),
                 workers="auto" if args.workers is None else args.workers, command=args.command_line,
                 loso_rows=loso_rows, loso_recipes=loso_recipes,
                 dataset={"name": args.dataset, "root": args.root, "fast": bool(args.fast),
                          "seed": args.seed, "n_clips": int(len(labels)),
                          "n_subjects": int(len(np.unique(subjects))), "class_names": list(names)}, **controls)
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
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from mer_lib.data.loaders import DatasetLayoutError
    from mer_lib.errors import UserInputError

    try:
        args = _parser().parse_args(argv)
        args.command_line = "mer " + shlex.join(sys.argv[1:] if argv is None else list(argv))
        _check_args(args)
        {"synth": cmd_synth, "preprocess": cmd_preprocess, "train": cmd_train, "evaluate": cmd_evaluate,
         "reproduce": cmd_reproduce}[args.command](args)
        return 0
    except (CLIError, UserInputError, DatasetLayoutError, FileNotFoundError) as err:
        # the user's errors (arguments, the database's layout, missing files, a refusal the
        # library signals with UserInputError); any other exception, a plain ValueError
        # included, is a bug to report, with its traceback
        message = " ".join(str(err).split())
        print(f"mer: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mer: interrupted (finished clips and epochs are cached; run the same command to continue)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
