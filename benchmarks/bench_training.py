"""Training the two-stream network: why the paper's recipe fails, what each ingredient of the stable one does, and speed.

Usage: python benchmarks/bench_training.py [--part diagnosis|ablation|speed|all] [--epochs N] [--seeds N]
                                           [--out benchmarks/results]

Data: the default SynthME (164 clips, seed 0), phase-magnified TV-L1 flow
(alpha 20), the paper's 80/20 split with seed 0. The test clips are never
used here: every score is measured on a validation set carved out of the
training clips (20%, stratified), so nothing is tuned on a test fold.

1. diagnosis: the first 17 optimiser steps (one epoch) of every recipe of the
   ablation below, two seeds each: the loss on the training clips, its highest
   value, the dead ReLU units of the two hidden layers and the size of the
   first update (``mer_lib.diagnostics.step_diagnostics``). These steps see the
   optimiser, the schedule, the initialisation and the normalisation of a
   recipe; augmentation, class weights and the choice of epoch do not act
   there (their rows equal the row they extend).
2. ablation: the paper's recipe, each ingredient of the stable recipe added to
   it (or taken from it), and the stable recipe, each trained ``--epochs``
   epochs with ``--seeds`` seeds: the loss at initialisation, the worst loss of
   the first three epochs, the last training loss, collapses, and UF1 and
   accuracy on the validation clips (mean and sd over seeds).
3. speed: per-epoch time with and without checkpoints (the library's compact
   checkpoints against a full ``.keras`` file every epoch, as the library
   wrote before), and the wall time of a small reproduction with 1 and 2
   workers (the concurrency speed-up), beside the figures measured on an H200
   by the training issue.

Writes ``training-<device>.json`` and ``training-<device>.md`` under --out and
prints the tables. Not a timed test.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

#: Measured on one NVIDIA H200 (Keras 3.15.1, JAX 0.11.2, mer_lib at 152cd43), from the training issue.
REFERENCE_H200 = {"two-stream epoch, 131 clips, batch 8": "0.21 s",
                  "two-stream epoch with a .keras checkpoint every epoch": "0.77 s (2.7x the training)",
                  "100 epochs through train with checkpoints": "77 s"}


def _data():
    from mer_lib.data import synthetic_dataset
    from mer_lib.evaluate import paper_split, validation_split
    from mer_lib.pipeline import preprocess

    data = synthetic_dataset(seed=0)
    cache = Path(os.environ.get("MER_CACHE", ".mer_cache")) / "preprocess"
    inputs = preprocess(data, "phase", 20.0, "tvl1", 64, cache_dir=cache, progress=False)
    train_idx, _ = paper_split(data.labels, 0.2, seed=0)
    fit, val = validation_split(train_idx, data.labels, fraction=0.2, seed=0)
    return inputs, data.labels, data.subjects, fit, val


def _recipes(only=None):
    """The recipes compared, in order; ``only``: the names to keep (None: all)."""
    from mer_lib.train import RECIPES

    paper, stable = RECIPES["paper"], RECIPES["stable"]
    start = dataclasses.replace(paper, name="paper + zero head + warm-up/cosine at 3e-4", zero_head=True,
                                learning_rate=3e-4, schedule="cosine", warmup_epochs=5)
    recipes = [
        paper,
        dataclasses.replace(paper, name="paper at lr 1e-4", learning_rate=1e-4),
        start,
        dataclasses.replace(start, name="... + batch norm after Flatten", normalization="batch"),
        dataclasses.replace(start, name="... + layer norm after Flatten", normalization="layer"),
        dataclasses.replace(start, name="... + flip/shift augmentation", augment=True, shift=4),
        dataclasses.replace(start, name="... + AdamW 1e-2, label smoothing 0.1, balanced classes",
                            weight_decay=1e-2, label_smoothing=0.1, class_weight="balanced"),
        dataclasses.replace(start, name="... + best epoch on an inner validation set", validation_fraction=0.15,
                            restore_best=True),
        stable,
    ]
    return [r for r in recipes if only is None or r.name in only]


def _merge(old, new):
    """Rows of ``new`` replace the rows of ``old`` with the same recipe."""
    names = {r["recipe"] for r in new}
    return [r for r in old if r["recipe"] not in names] + new


def diagnosis(inputs, labels, fit, val, seeds=2, only=None):
    """The first epoch (17 steps) of every recipe of the ablation: loss, logits, dead units, update sizes."""
    import keras

    from mer_lib import diagnostics
    from mer_lib.experiments import build
    from mer_lib.train import compile_with_recipe

    rows = []
    for recipe in _recipes(only):
        for seed in range(seeds):
            keras.utils.set_random_seed(seed)
            model = compile_with_recipe(build("two_stream", inputs.frames.shape[1:], inputs.flow.shape[1:], 3,
                                              recipe.normalization)(), recipe, 17, 100, jit_compile=False)
            if recipe.zero_head:
                head = model.layers[-1]
                head.kernel.assign(np.zeros(head.kernel.shape, "float32"))
            steps = diagnostics.step_diagnostics(model, inputs.as_dict(fit), labels[fit], steps=17, seed=seed,
                                                 probe=(inputs.as_dict(fit), labels[fit]))
            d = {layer: steps[steps["layer"] == layer].set_index("step") for layer in ("dense_1", "dense_2")}
            rows.append({"recipe": recipe.name, "seed": seed, "loss at step 0": float(d["dense_2"]["loss"].iloc[0]),
                         "highest loss, steps 1-17": float(d["dense_2"]["loss"].iloc[1:].max()),
                         "loss at step 17": float(d["dense_2"]["loss"].iloc[-1]),
                         "dead dense_1 at 0": float(d["dense_1"]["dead"].iloc[0]),
                         "dead dense_1 at 17": float(d["dense_1"]["dead"].iloc[-1]),
                         "dead dense_2 at 0": float(d["dense_2"]["dead"].iloc[0]),
                         "dead dense_2 at 17": float(d["dense_2"]["dead"].iloc[-1]),
                         "first update of dense_2": float(d["dense_2"]["update_norm"].iloc[0]),
                         "classes predicted at 17": int(d["dense_2"]["classes_predicted"].iloc[-1])})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def ablation(inputs, labels, subjects, fit, val, epochs, seeds, only=None):
    from mer_lib.evaluate import accuracy, uf1
    from mer_lib.experiments import build
    from mer_lib.train import train

    rows = []
    for recipe in _recipes(only):
        for seed in range(seeds):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = train(build("two_stream", inputs.frames.shape[1:], inputs.flow.shape[1:], 3,
                                  recipe.normalization), inputs.as_dict(fit), labels[fit], recipe=recipe,
                            epochs=epochs, seed=seed, verbose=0)
            pred = res.model.predict(inputs.as_dict(val), verbose=0).argmax(axis=1)
            rows.append({"recipe": recipe.name, "seed": seed, "initial loss": res.initial_loss,
                         "epoch-1 loss": res.history["loss"][0], "worst loss, epochs 1-3": max(res.history["loss"][:3]),
                         "last training loss": res.history["loss"][-1], "best epoch": res.best_epoch,
                         "collapsed": bool(res.warnings), "classes predicted": int(len(np.unique(pred))),
                         "val UF1": uf1(labels[val], pred, 3), "val accuracy": accuracy(labels[val], pred),
                         "seconds": time.perf_counter() - t0})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def speed(inputs, labels, fit):
    import keras

    from mer_lib.experiments import build
    from mer_lib.models import compile_model
    from mer_lib.train import train

    rows = []
    x, y = inputs.as_dict(fit), labels[fit]
    make = build("two_stream", inputs.frames.shape[1:], inputs.flow.shape[1:], 3)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(make, x, y, epochs=3, verbose=0)
        rows.append(("two-stream, 3 epochs, no checkpoint: time per epoch", f"{res.train_seconds / 3:.2f} s"))
        res = train(make, x, y, epochs=3, verbose=0, checkpoint_dir=Path(tmp) / "every", checkpoint_every=1)
        size = sum(p.stat().st_size for p in (Path(tmp) / "every").iterdir()) / 1e6
        rows.append(("compact checkpoint (variables and optimiser state, .npz), every epoch",
                     f"{res.checkpoint_seconds / 3:.2f} s per checkpoint, {size:.0f} MB, "
                     f"{100 * res.checkpoint_seconds / res.train_seconds:.0f}% of the training"))
        res = train(make, x, y, epochs=3, verbose=0, checkpoint_dir=Path(tmp) / "auto")
        rows.append(("compact checkpoints, checkpoint_every='auto'",
                     f"{100 * res.checkpoint_seconds / res.train_seconds:.0f}% of the training"))
        model = compile_model(make())
        model.fit(x, keras.utils.to_categorical(y, 3), batch_size=8, epochs=1, verbose=0)
        t0 = time.perf_counter()
        model.save(Path(tmp) / "model.keras")
        rows.append(("full .keras file (the earlier checkpoint)",
                     f"{time.perf_counter() - t0:.2f} s, {(Path(tmp) / 'model.keras').stat().st_size / 1e6:.0f} MB"))
    # concurrency: a small reproduction (fast SynthME) with 1 and with 2 worker processes
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mer_lib.cli", "reproduce", "--table", "3", "--dataset", "synth",
                            "--fast", "--out", tmp, "--workers", str(workers), "--epochs", "2"], check=True,
                           capture_output=True)
            rows.append((f"mer reproduce --table 3 --fast --epochs 2 (6 runs), {workers} worker(s)",
                         f"{time.perf_counter() - t0:.0f} s wall"))
    return rows


def _table(rows, columns=None):
    if not rows:
        return ""
    if isinstance(rows[0], tuple):
        lines = ["| what | measured |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
        return "\n".join(lines)
    columns = columns or list(rows[0])
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    return "\n".join(["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)] +
                     ["| " + " | ".join(fmt(r[c]) for c in columns) + " |" for r in rows])


def _mean_over_seeds(rows):
    import pandas as pd

    df = pd.DataFrame(rows)
    return [{"recipe": name, "seeds": len(g), **{c: float(g[c].mean()) for c in df.columns
                                                 if c not in ("recipe", "seed")}}
            for name, g in df.groupby("recipe", sort=False)]


def _summary(rows):
    import pandas as pd

    df = pd.DataFrame(rows)
    out = []
    for name, g in df.groupby("recipe", sort=False):
        out.append({"recipe": name, "seeds": len(g), "initial loss": g["initial loss"].mean(),
                    "worst loss, epochs 1-3": g["worst loss, epochs 1-3"].mean(),
                    "last training loss": g["last training loss"].mean(), "collapsed": int(g["collapsed"].sum()),
                    "val UF1 mean": g["val UF1"].mean(), "val UF1 sd": g["val UF1"].std(ddof=1),
                    "val accuracy mean": g["val accuracy"].mean()})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=("diagnosis", "ablation", "speed", "all"))
    parser.add_argument("--epochs", type=int, default=20, help="epochs of each ablation run (default 20)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of each ablation run (default 2)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--only", action="append", default=None,
                        help="run only the recipe of this name (repeatable); its rows replace the saved ones")
    args = parser.parse_args()
    from mer_lib.env import gpu_names
    from mer_lib.experiments import provenance

    started = provenance(command=" ".join(["python"] + sys.argv))    # the code as it is when the run starts
    inputs, labels, subjects, fit, val = _data()
    device = "gpu" if gpu_names() else "cpu"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"training-{device}.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    t0 = time.perf_counter()
    if args.part in ("diagnosis", "all"):
        rows = diagnosis(inputs, labels, fit, val, args.seeds, args.only)
        report["diagnosis"] = _merge(report.get("diagnosis", []), rows) if args.only else rows
    if args.part in ("ablation", "all"):
        rows = ablation(inputs, labels, subjects, fit, val, args.epochs, args.seeds, args.only)
        report["ablation"] = _merge(report.get("ablation", []), rows) if args.only else rows
        report["ablation_settings"] = {"epochs": args.epochs, "seeds": args.seeds, "fit clips": len(fit),
                                       "validation clips": len(val)}
    if args.part in ("speed", "all"):
        report["speed"] = speed(inputs, labels, fit)
    started["wall_seconds"] = round(time.perf_counter() - t0, 1)
    report.setdefault("provenance", {})[args.part + (f" ({', '.join(args.only)})" if args.only else "")] = started
    path.write_text(json.dumps(report, indent=1))
    md = [f"# Training benchmark ({device})", ""]
    if "diagnosis" in report:
        md += ["## The first epoch (17 optimiser steps) of each recipe, two seeds", "",
               _table(_mean_over_seeds(report["diagnosis"])), ""]
    if "ablation" in report:
        s = report["ablation_settings"]
        md += [f"## Recipe ablation: {s['epochs']} epochs, {s['seeds']} seeds, {s['fit clips']} training clips, "
               f"UF1 on {s['validation clips']} validation clips carved from the training fold", "",
               _table(_summary(report["ablation"])), ""]
    if "speed" in report:
        md += ["## Speed", "", _table([tuple(r) for r in report["speed"]]), "", "Reference (H200, the training issue):",
               "", _table(list(REFERENCE_H200.items())), ""]
    md += ["## Provenance", "", "```json", json.dumps(report["provenance"], indent=1), "```", ""]
    (out / f"training-{device}.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
