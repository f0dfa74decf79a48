"""The ``mer`` command: SynthME, pre-processing, training, evaluation and the paper's tables.

    mer synth       --out DIR [--seed N] [--fast]
    mer preprocess  --dataset D [--root PATH] --out DIR [--magnify phase|linear|riesz|none] [--flow tvl1|...]
    mer train       --dataset D [--root PATH] --out DIR [--model two_stream|one_stream|cnn_rnn] [--input pbvm|flow|evm]
    mer evaluate    --dataset D [--root PATH] --out DIR [--protocol paper|loso] [--model ...] [--input ...]
    mer reproduce   --table 3|4 --dataset D [--root PATH] --out DIR [--protocol paper|loso]

D is one of synth, casme2 (CAS(ME)^2), casme-ii (CASME II) or megc2019 (the
composite; PATH then holds SMIC/, CASME2/ and SAMM/). Results are written as
CSV files and figures under DIR. Bad input ends with a one-line message and a
non-zero exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

DATASETS = ("synth", "casme2", "casme-ii", "megc2019")
MODELS = ("two_stream", "two_stream_corrected", "one_stream", "cnn_rnn")
INPUTS = ("pbvm", "flow", "evm")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CLIError(message)


def load_dataset(name, root=None, fast=False, cache=None, seed=0):
    """Clips (N, T, H, W) in [0, 1], labels, subjects, apex indices (or None) and class names."""
    from mer_lib.data import CLASS_NAMES, prepare_clips, synthetic_dataset
    from mer_lib.data import loaders

    if name == "synth":
        if fast:   # a smoke-test size: 10 clips of 64 x 64 from 4 subjects
            ds = synthetic_dataset(seed=seed, counts=(4, 4, 2), n_subjects=4, size=64)
        else:
            ds = synthetic_dataset(seed=seed)
        return ds.frames, ds.labels, ds.subjects, ds.apex, ds.class_names
    if root is None:
        raise CLIError(f"--root PATH is required for --dataset {name} (the folder of your licensed copy)")
    if name == "casme2":
        records = loaders.load_casme2(root)
    elif name == "casme-ii":
        records = loaders.load_casme_ii(root)
    elif name == "megc2019":
        base = Path(root)
        records = loaders.load_megc2019({"smic": base / "SMIC", "casme_ii": base / "CASME2", "samm": base / "SAMM"})
    else:
        raise CLIError(f"unknown dataset {name!r}: choose from {', '.join(DATASETS)}")
    if not records:
        raise CLIError(f"no clips selected from {name} under {root}: check the layout and the annotation")
    clips = prepare_clips(records, n_frames=8, size=128, cache_dir=cache)
    labels = np.array([CLASS_NAMES.index(r.label) for r in records])
    subjects = np.array([r.subject for r in records])
    apex = np.array([int(round((r.apex - r.onset) / max(r.offset - r.onset, 1) * 7)) for r in records])
    return clips, labels, subjects, apex, CLASS_NAMES


def _common(p, out=True):
    p.add_argument("--dataset", required=True, choices=DATASETS, help="which data")
    p.add_argument("--root", help="folder of a licensed copy of the database (not needed for synth)")
    if out:
        p.add_argument("--out", required=True, help="folder for the results (CSV files and figures)")
    p.add_argument("--fast", action="store_true", help="run small (as MER_FAST=1 does)")
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
    p.add_argument("--magnify", default="phase", choices=("phase", "linear", "riesz", "none"))
    p.add_argument("--alpha", type=float, default=20.0)
    p.add_argument("--flow", default="tvl1", choices=("tvl1", "horn_schunck", "opencv", "skimage"))
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--jobs", type=int, default=None, help="processes (default: every core)")
    for name, helptext in (("train", "train a model on the training part of the paper's split"),
                           ("evaluate", "train and test under a protocol, scores and confusion matrix")):
        p = sub.add_parser(name, help=helptext)
        _common(p)
        p.add_argument("--model", default="two_stream", choices=MODELS)
        p.add_argument("--input", default="pbvm", choices=INPUTS, help="the flow stream's input")
        p.add_argument("--epochs", type=int, default=100)
        p.add_argument("--cpu-epochs", type=int, default=None, help="shorten the run when there is no GPU")
        p.add_argument("--batch-size", type=int, default=8)
        if name == "evaluate":
            p.add_argument("--protocol", default="loso", choices=("paper", "loso"))
            p.add_argument("--folds", type=int, default=None, help="subject-disjoint folds instead of one per subject")
    p = sub.add_parser("reproduce", help="reproduce the paper's Table 3 or 4")
    _common(p)
    p.add_argument("--table", required=True, type=int, choices=(3, 4))
    p.add_argument("--protocol", default="paper", choices=("paper", "loso"))
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--cpu-epochs", type=int, default=None)
    p.add_argument("--folds", type=int, default=None)
    return parser


def _out(path):
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _inputs(args, clips, apex, kinds):
    from mer_lib.pipeline import preprocess

    cache = Path(args.out) / "cache"
    flows = {}
    for kind in kinds:
        from mer_lib.experiments import INPUT_SETTINGS

        magnify, alpha = INPUT_SETTINGS[kind]
        prepared = preprocess(clips, magnify, alpha, apex=apex, cache_dir=cache)
        flows[kind] = prepared.flow
        frames = prepared.frames
    if not kinds:
        frames = preprocess(clips, None, 0.0, apex=apex, cache_dir=cache).frames
    return frames, flows


def cmd_synth(args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from mer_lib.data import synthetic_dataset
    from mer_lib.data.prepare import atomic_save_npz

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

    from mer_lib.data.prepare import atomic_save_npz
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

    flow_input = args.input if args.model.startswith("two_stream") else None
    return Row(f"{args.model} ({flow_input or 'frames'})", args.model, flow_input)


def cmd_train(args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from mer_lib.evaluate import paper_split
    from mer_lib.experiments import _inputs as row_inputs, build
    from mer_lib.train import train

    out = _out(args.out)
    clips, labels, subjects, apex, names = load_dataset(args.dataset, args.root, args.fast, out / "clips", args.seed)
    row = _row(args)
    frames, flows = _inputs(args, clips, apex, [row.flow_input] if row.flow_input else [])
    train_idx, _ = paper_split(labels, 0.2, args.seed)
    flow_shape = flows[row.flow_input].shape[1:] if row.flow_input else None
    epochs = 1 if args.fast else args.epochs
    result = train(build(row.model, frames.shape[1:], flow_shape), row_inputs(row, frames, flows, train_idx),
                   labels[train_idx], epochs=epochs, batch_size=args.batch_size, seed=args.seed,
                   checkpoint_dir=out / "checkpoints" / f"{row.model}-{row.flow_input}", cpu_epochs=args.cpu_epochs)
    history = pd.DataFrame(result.history)
    history.index.name = "epoch"
    history.to_csv(out / "history.csv")
    fig, ax = plt.subplots(figsize=(5, 3))
    for key in ("loss", "accuracy"):
        ax.plot(np.arange(1, len(history) + 1), history[key], label=key)
    ax.set_xlabel("epoch"); ax.legend(); ax.set_title(row.label)
    fig.savefig(out / "learning_curve.png", dpi=100, bbox_inches="tight")
    print(f"trained {row.label} for {result.epochs} epochs on {result.device}; wrote {out / 'history.csv'}")


def cmd_evaluate(args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from mer_lib.evaluate import plot_confusion
    from mer_lib.experiments import run_row

    out = _out(args.out)
    clips, labels, subjects, apex, names = load_dataset(args.dataset, args.root, args.fast, out / "clips", args.seed)
    row = _row(args)
    frames, flows = _inputs(args, clips, apex, [row.flow_input] if row.flow_input else [])
    folds = args.folds if args.folds is not None else (3 if args.fast and args.protocol == "loso" else None)
    result = run_row(row, frames, flows, labels, subjects, args.protocol, n_folds=folds,
                     epochs=1 if args.fast else args.epochs, batch_size=args.batch_size, seed=args.seed,
                     checkpoint_root=out / "checkpoints")
    s = result["scores"]
    pd.DataFrame([{"method": row.label, "protocol": args.protocol, "folds": result["folds"],
                   "accuracy": s["accuracy"], "UF1": s["uf1"], "UAR": s["uar"],
                   **{f"recall {n}": r for n, r in zip(names, s["recall"])}}]).to_csv(out / "scores.csv", index=False)
    ax = plot_confusion(result["confusion"], names, title=f"{row.label}, {args.protocol}")
    ax.figure.savefig(out / "confusion.png", dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"{row.label}, {args.protocol} ({result['folds']} folds): accuracy {s['accuracy']:.3f}, "
          f"UF1 {s['uf1']:.3f}, UAR {s['uar']:.3f}; wrote {out / 'scores.csv'}")


def cmd_reproduce(args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mer_lib.evaluate import plot_confusion
    from mer_lib.experiments import PAPER_TABLE3, PAPER_TABLE4, TABLE3, TABLE4, run_table

    out = _out(args.out)
    clips, labels, subjects, apex, names = load_dataset(args.dataset, args.root, args.fast, out / "clips", args.seed)
    rows, paper = (TABLE3, PAPER_TABLE3) if args.table == 3 else (TABLE4, PAPER_TABLE4)
    kinds = sorted({r.flow_input for r in rows if r.flow_input})
    frames, flows = _inputs(args, clips, apex, kinds)
    folds = args.folds if args.folds is not None else (3 if args.fast and args.protocol == "loso" else None)
    table, results = run_table(rows, frames, flows, labels, subjects, args.protocol, paper, n_folds=folds,
                               epochs=1 if args.fast else args.epochs, seed=args.seed,
                               checkpoint_root=out / "checkpoints")
    csv = out / f"table{args.table}-{args.dataset}-{args.protocol}.csv"
    table.to_csv(csv, index=False)
    fig, axes = plt.subplots(1, len(results), figsize=(3.8 * len(results), 3.4))
    for ax, (label, res) in zip(np.atleast_1d(axes), results.items()):
        plot_confusion(res["confusion"], names, ax=ax, title=label)
    fig.tight_layout()
    fig.savefig(out / f"table{args.table}-{args.dataset}-{args.protocol}-confusion.png", dpi=100)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {csv}")


def main(argv=None):
    """Entry point of the ``mer`` command; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from mer_lib.data.loaders import DatasetLayoutError

    try:
        args = _parser().parse_args(argv)
        if args.command == "synth":
            cmd_synth(args)
        else:
            if getattr(args, "fast", False):
                os.environ["MER_FAST"] = "1"
            {"preprocess": cmd_preprocess, "train": cmd_train, "evaluate": cmd_evaluate,
             "reproduce": cmd_reproduce}[args.command](args)
        return 0
    except (CLIError, DatasetLayoutError, FileNotFoundError, ValueError) as err:
        message = " ".join(str(err).split())
        print(f"mer: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mer: interrupted (finished clips and epochs are cached; run the same command to continue)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
