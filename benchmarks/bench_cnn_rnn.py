"""CNN_RNN: why it stayed at a loss of ln 3, and whether reading onset-relative frames lets it learn (issue 23).

Usage: python benchmarks/bench_cnn_rnn.py [--epochs 30] [--seeds 3] [--inputs frames onset_relative]
                                          [--recipe paper --recipe stable ...] [--steps 17]
                                          [--out benchmarks/results] [--note TEXT]

Data: SynthME with the paper's class counts (164 clips, 22 subjects, seed 0),
generated at 64x64 and pre-processed as chapter 10 does in fast mode (phase
magnification alpha 20, TV-L1, inputs of 32x32, normalised per clip; cached
under ``$MER_CACHE/preprocess``). Only the frames are used, (164, 8, 32, 32, 1).
Run ``s`` (s = 0, 1, ...) draws the paper's stratified 80/20 split with seed s
(131 training clips, 33 test clips that training never sees) and trains with
seed s.

For every ``inputs`` of :func:`mer_lib.models.cnn_rnn` ("frames": the model
before issue 23; "onset_relative": each frame minus the onset frame, scaled
per clip), every recipe and every seed:

1. the first steps: a fresh model compiled with the recipe (its softmax layer
   zeroed when the recipe says so, as :func:`mer_lib.train.train` does), then
   ``--steps`` optimiser steps (``train_on_batch``, batches of 8 training
   clips in a fixed order; one epoch is 17): the L2 norm of the loss gradient
   over the per-frame CNN's weights (conv2d_1, conv2d_2, the normalisation
   when the recipe adds one, frame_features), the LSTM's and the softmax
   layer's, at step 0 (initialisation) and averaged over the following steps;
2. the per-frame features at initialisation (before step 1) and after
   training, on the training clips: the fraction of ``frame_features`` units
   that are dead (ReLU output 0 for every frame of every clip), and the ratio
   of the features' variation *within* a clip (RMS over frames of the
   deviation from the clip's mean feature vector) to their variation *across*
   clips (RMS of the clip means around the mean over clips): near 0, the LSTM
   reads the same vector eight times and sees no motion;
3. training: :func:`mer_lib.train.train` with the recipe for ``--epochs``
   epochs (the paper's 100 are out of reach on one CPU core; 30 is what the
   earlier probe of the issue ran): the loss at initialisation, the final
   training loss (the mean of the last 5 epochs' training losses, the test
   by which the tables mark a run "not trained": at least 90% of ln 3), the
   training accuracy (the trained model's predictions on the training clips),
   and UF1 and accuracy on the test clips.

Chance: the UF1 of uniform random guesses on each run's test clips (the mean
over 2,000 draws) is reported beside the models'. Writes ``cnn_rnn.json``
and ``cnn_rnn.md`` under --out (runs already there for the same settings are
kept; ``--recipe`` replaces only its own rows). Not a timed test; on a shared
machine pin it to one core (``taskset -c 1``) with one thread per pool.
"""

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import machine  # noqa: E402

#: Data settings: chapter 10's fast mode (clips generated at 64x64, inputs of 32x32), with the paper's counts.
DATA = {"dataset": "SynthME", "seed": 0, "counts": (67, 69, 28), "n_subjects": 22, "generated_size": 64,
        "input_size": 32, "magnify": "phase", "alpha": 20.0, "flow": "tvl1", "test_fraction": 0.2}
BATCH = 8
LIBRARY_RECIPES = ("paper", "stable")


def _recipes():
    """The recipes by name: the library's two, and the stable recipe with one ingredient taken out or changed,
    for ``--recipe``."""
    from mer_lib.train import RECIPES

    stable = RECIPES["stable"]
    variants = [
        dataclasses.replace(stable, name="stable without zero head", zero_head=False),
        dataclasses.replace(stable, name="stable without augmentation", augment=False, shift=0),
        dataclasses.replace(stable, name="stable without batch norm", normalization=None),
        dataclasses.replace(stable, name="stable at the paper's lr (1e-3)", learning_rate=1e-3),
    ]
    return {**RECIPES, **{r.name: r for r in variants}}


def _data():
    from mer_lib.data import synthetic_dataset
    from mer_lib.pipeline import preprocess

    data = synthetic_dataset(seed=DATA["seed"], counts=DATA["counts"], n_subjects=DATA["n_subjects"],
                             size=DATA["generated_size"])
    cache = Path(os.environ.get("MER_CACHE", ROOT / ".mer_cache")) / "preprocess"
    inputs = preprocess(data, DATA["magnify"], DATA["alpha"], DATA["flow"], DATA["input_size"], cache_dir=cache,
                        n_jobs=1, progress=False)
    return inputs.frames, np.asarray(data.labels), np.asarray(data.subjects)


def _variation(features):
    """(within-clip RMS, across-clip RMS) of features of shape (N, T, D)."""
    features = np.asarray(features, np.float64)
    clip_mean = features.mean(axis=1)
    within = math.sqrt(np.mean((features - clip_mean[:, None]) ** 2))
    across = math.sqrt(np.mean((clip_mean - clip_mean.mean(axis=0)) ** 2))
    return within, across


def input_variation(frames):
    """Within- and across-clip RMS of the inputs themselves, as the per-frame CNN would read them."""
    from mer_lib.models import OnsetRelative

    out = {}
    for name in ("frames", "onset_relative"):
        x = frames if name == "frames" else np.concatenate(
            [np.asarray(OnsetRelative()(frames[i:i + 64])) for i in range(0, len(frames), 64)])
        within, across = _variation(x.reshape(len(x), x.shape[1], -1))
        out[name] = {"within-clip RMS": within, "across-clip RMS": across, "within / across": within / across}
    return out


def frame_features(model, x):
    """The per-frame CNN's ``frame_features`` for clips x: (N, T, dense_units)."""
    encoder = model.get_layer("per_frame_cnn").layer
    if "onset_relative" in [layer.name for layer in model.layers]:
        relative = model.get_layer("onset_relative")
        x = np.concatenate([np.asarray(relative(x[i:i + 64])) for i in range(0, len(x), 64)])
    n, t = x.shape[:2]
    return encoder.predict(x.reshape(n * t, *x.shape[2:]), batch_size=256, verbose=0).reshape(n, t, -1)


def feature_figures(model, x):
    f = frame_features(model, x)
    within, across = _variation(f)
    return {"dead": float(np.mean(f.max(axis=(0, 1)) <= 0)), "within / across": within / max(across, 1e-12)}


#: The parts of the model whose gradient norms are reported, by the first segment of a weight's path.
GROUPS = {"cnn": ("conv2d_1", "conv2d_2", "normalization", "frame_features"), "lstm": ("lstm",),
          "head": ("softmax",)}


def first_steps(build, recipe, x, y, seed, steps, epochs):
    """Gradient norms of the CNN, the LSTM and the head over the first steps; features at initialisation."""
    import keras

    from mer_lib.diagnostics import gradient_norms
    from mer_lib.recipes import compile_with_recipe

    keras.utils.set_random_seed(seed)
    model = compile_with_recipe(build(), recipe, math.ceil(len(y) / BATCH), epochs, jit_compile=False)
    if recipe.zero_head:
        head = model.layers[-1]
        head.kernel.assign(np.zeros(head.kernel.shape, dtype=head.kernel.dtype))
    at_init = feature_figures(model, x)
    onehot = keras.utils.to_categorical(y, 3)
    order = np.random.default_rng(seed).permutation(len(y))
    norms = []
    for step in range(steps):
        batch = np.take(order, np.arange(step * BATCH, (step + 1) * BATCH), mode="wrap")
        by_layer = gradient_norms(model, x[batch], onehot[batch])
        norms.append({group: math.sqrt(sum(v ** 2 for k, v in by_layer.items() if k in names))
                      for group, names in GROUPS.items()})
        model.train_on_batch(x[batch], onehot[batch])
    later = norms[1:] or norms
    out = {f"grad {g} at step 0": norms[0][g] for g in GROUPS}
    out.update({f"grad {g}, steps 1-{steps - 1}": float(np.mean([n[g] for n in later])) for g in GROUPS})
    lstm, cnn = out[f"grad lstm, steps 1-{steps - 1}"], out[f"grad cnn, steps 1-{steps - 1}"]
    out[f"grad lstm / cnn, steps 1-{steps - 1}"] = lstm / cnn if cnn > 0 else float("nan")
    out["dead at init"] = at_init["dead"]
    out["within / across at init"] = at_init["within / across"]
    return out


def one_run(frames, labels, inputs, recipe, seed, epochs, steps):
    from mer_lib.env import tensorflow_log_level
    from mer_lib.evaluate import accuracy, uf1
    from mer_lib.experiments.results import NOT_TRAINED_FRACTION, final_loss
    from mer_lib.models import cnn_rnn
    from mer_lib.splits import paper_split
    from mer_lib.train import train

    train_idx, test_idx = paper_split(labels, DATA["test_fraction"], seed)
    x, y = frames[train_idx], labels[train_idx]

    def build():
        return cnn_rnn(frames.shape[1:], 3, normalization=recipe.normalization, inputs=inputs)

    t0 = time.perf_counter()
    with warnings.catch_warnings(), tensorflow_log_level("ERROR"):
        warnings.simplefilter("ignore")
        steps_figures = first_steps(build, recipe, x, y, seed, steps, epochs)
        result = train(build, x, y, recipe=recipe, epochs=epochs, batch_size=BATCH, seed=seed, verbose=0)
        train_pred = result.model.predict(x, batch_size=64, verbose=0).argmax(axis=1)
        test_pred = result.model.predict(frames[test_idx], batch_size=64, verbose=0).argmax(axis=1)
        end = feature_figures(result.model, x)
    rng = np.random.default_rng(seed)
    chance = float(np.mean([uf1(labels[test_idx], rng.integers(0, 3, len(test_idx)), 3) for _ in range(2000)]))
    last = final_loss(result.history)
    return {"inputs": inputs, "recipe": recipe.name, "seed": seed, "train clips": int(len(train_idx)),
            "test clips": int(len(test_idx)), "initial loss": result.initial_loss, "final loss": last,
            "trained": bool(last < NOT_TRAINED_FRACTION * math.log(3)), "collapsed": bool(result.warnings),
            "training accuracy": accuracy(y, train_pred), "test UF1": uf1(labels[test_idx], test_pred, 3),
            "test accuracy": accuracy(labels[test_idx], test_pred),
            "test classes predicted": int(len(np.unique(test_pred))), "chance UF1": chance,
            "dead at end": end["dead"], "within / across at end": end["within / across"], **steps_figures,
            "loss by epoch": [round(v, 4) for v in result.history["loss"]], "seconds": time.perf_counter() - t0}


def _spread(values):
    """mean ± sd (range) of a few values, as the tables give them with fewer than 5 runs."""
    v = np.asarray(values, float)
    if len(v) == 1:
        return f"{v[0]:.3f}"
    text = f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"
    return text + (f" ({v.min():.3f}–{v.max():.3f})" if len(v) < 5 else "")


def summary(runs, steps):
    """One line per (inputs, recipe), in the order first run."""
    cells = {}
    for r in runs:
        cells.setdefault((r["inputs"], r["recipe"]), []).append(r)
    lines = []
    for (inputs, recipe), rs in cells.items():
        mean = lambda key: float(np.mean([r[key] for r in rs]))   # noqa: E731
        lines.append({
            "inputs": inputs, "recipe": recipe, "seeds": ",".join(str(r["seed"]) for r in rs),
            "loss at init": f"{mean('initial loss'):.3f}", "final loss": _spread([r["final loss"] for r in rs]),
            "trained runs": f"{sum(r['trained'] for r in rs)} of {len(rs)}",
            "training accuracy": _spread([r["training accuracy"] for r in rs]),
            "test UF1": _spread([r["test UF1"] for r in rs]), "chance UF1": f"{mean('chance UF1'):.3f}",
            "test accuracy": _spread([r["test accuracy"] for r in rs]),
            "dead frame_features, init → end": f"{mean('dead at init'):.2f} → {mean('dead at end'):.2f}",
            "within / across, init → end": f"{mean('within / across at init'):.3f} → "
                                           f"{mean('within / across at end'):.3f}",
            "grad CNN / LSTM / head at step 0": " / ".join(f"{mean(f'grad {g} at step 0'):.2g}" for g in GROUPS),
            f"grad CNN / LSTM / head, steps 1-{steps - 1}": " / ".join(
                f"{mean(f'grad {g}, steps 1-{steps - 1}'):.2g}" for g in GROUPS),
            "seconds per run": f"{mean('seconds'):.0f}"})
    return lines


def _table(rows):
    if not rows:
        return ""
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def markdown(report):
    s = report["settings"]
    steps = s["steps"]
    lines = ["# CNN_RNN: what it reads, and whether it learns (issue 23)", "",
             f"SynthME, {s['clips']} clips of {s['subjects']} subjects, generated at "
             f"{DATA['generated_size']}x{DATA['generated_size']}, frames of {DATA['input_size']}x"
             f"{DATA['input_size']} (chapter 10's fast-mode pre-processing); run s: the paper's 80/20 split drawn "
             f"with seed s ({s['train clips']} training clips, {s['test clips']} test clips), trained with seed s "
             f"for {s['epochs']} epochs, batches of {BATCH}. Mean ± sd over the seeds, with the range when there "
             "are fewer than 5. 'trained': the final training loss (mean of the last 5 epochs) is below 90% of "
             "ln 3, the tables' test. Chance UF1: uniform random guesses on the same test clips.", "",
             "## Training and testing: the library's two recipes", "",
             _table(summary([r for r in report["runs"] if r["recipe"] in LIBRARY_RECIPES], steps)), ""]
    others = [r for r in report["runs"] if r["recipe"] not in LIBRARY_RECIPES]
    if others:
        lines += ["## The stable recipe with one ingredient taken out or changed", "",
                  _table(summary(others, steps)), ""]
    lines += ["## The inputs the per-frame CNN reads (all clips)", "",
             "Within-clip RMS: of each frame's deviation from its clip's mean frame; across-clip RMS: of the clips' "
             "mean frames around their mean.", "",
             _table([{"inputs": k, **{c: f"{v:.3f}" for c, v in d.items()}} for k, d in report["inputs"].items()]),
             "", "## Machine", "",
             f"{report['machine']['cpu_model']}, {report['machine']['machine_cores']} cores in the machine; this run "
             f"was pinned to {report['machine']['usable_cores']} core(s) (CPU affinity {report['affinity']}; each "
             "invocation's in the provenance), "
             f"thread settings {report['threads']}; TensorFlow {report['provenance'][-1].get('backend_version')} on "
             f"{report['provenance'][-1].get('device')}. Wall time of each invocation (the runs it made, in "
             "the provenance below): " + ", ".join(f"{p.get('wall_seconds')} s" for p in report["provenance"]) + ".",
             "",
             "## Provenance", "", "```json", json.dumps(report["provenance"], indent=1), "```", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs of each run (default 30)")
    parser.add_argument("--seeds", type=int, default=3, help="runs per cell, seeds 0..N-1 (default 3)")
    parser.add_argument("--inputs", nargs="+", default=["frames", "onset_relative"],
                        help="inputs of mer_lib.models.cnn_rnn to compare (default: both)")
    parser.add_argument("--recipe", action="append", default=None,
                        help="a recipe to run (repeatable; default paper and stable); its rows replace the saved "
                             "ones. Also: " + ", ".join(repr(n) for n in list(_recipes())[2:]))
    parser.add_argument("--steps", type=int, default=17, help="first optimiser steps measured (default 17)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--note", default=None, help="a remark recorded in the provenance")
    args = parser.parse_args()
    if args.steps < 2 or args.seeds < 1 or args.epochs < 5:
        parser.error("--steps must be at least 2, --seeds at least 1, --epochs at least 5")

    from mer_lib.experiments import provenance
    from mer_lib.models import CNN_RNN_INPUTS

    known = _recipes()
    names = args.recipe or ["paper", "stable"]
    for name in names:
        if name not in known:
            parser.error(f"--recipe: unknown recipe {name!r}; choose from {', '.join(known)}")
    for name in args.inputs:
        if name not in CNN_RNN_INPUTS:
            parser.error(f"--inputs: {name!r} is not one of {', '.join(CNN_RNN_INPUTS)}")
    started = provenance(command=" ".join(["python"] + sys.argv))
    if args.note:
        started["note"] = args.note
    commit, clean = machine.git_commit(ROOT)
    t0 = time.perf_counter()
    frames, labels, subjects = _data()
    settings = {"epochs": args.epochs, "steps": args.steps, "clips": int(len(labels)),
                "subjects": int(len(np.unique(subjects))), "train clips": None, "test clips": None, "data": DATA}
    out = Path(args.out)
    path = out / "cnn_rnn.json"
    report = machine.read_json(path)
    same = {k: report.get("settings", {}).get(k) for k in ("epochs", "steps")} == {"epochs": args.epochs,
                                                                                   "steps": args.steps}
    runs = [r for r in report.get("runs", []) if same and not (r["recipe"] in names and r["inputs"] in args.inputs)]
    history = report.get("provenance", []) if same else []
    for inputs in args.inputs:
        for name in names:
            for seed in range(args.seeds):
                run = one_run(frames, labels, inputs, known[name], seed, args.epochs, args.steps)
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in run.items()
                                  if k != "loss by epoch"}), flush=True)
                runs.append(run)
    settings["train clips"], settings["test clips"] = runs[-1]["train clips"], runs[-1]["test clips"]
    started["wall_seconds"] = round(time.perf_counter() - t0, 1)
    started["git"] = {"commit": commit, "clean": clean}
    started["ran"] = {"inputs": args.inputs, "recipes": names, "seeds": args.seeds}
    started["affinity"] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    report = {"benchmark": "bench_cnn_rnn.py", "settings": settings, "runs": runs,
              "inputs": input_variation(frames), "machine": machine.machine(),
              "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
              "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                                         "TF_NUM_INTEROP_THREADS")},
              "provenance": history + [started]}
    machine.write_json(path, report)
    md = markdown(report)
    (out / "cnn_rnn.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
