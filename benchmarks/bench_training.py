"""Training the two-stream network: why the paper's recipe fails, what each ingredient of the stable one does, and speed.

Usage: python benchmarks/bench_training.py [--part diagnosis|ablation|speed|all] [--epochs N] [--seeds N]
                                           [--out benchmarks/results] [--settings auto|gpu|cpu|quick]
                                           [--model NAME ...] [--budget SECONDS] [--note TEXT]

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
3. speed (on Keras' JAX backend; a child process is started with
   KERAS_BACKEND=jax when this one has another): for the two-stream network
   and each baseline of ``mer_lib.experiments.MODELS``, side by side on this
   device: ``train`` one run at a time (Keras' fit; an epoch without and with
   a checkpoint after it), the batched trainer at N = 1, 4, 16, 64 runs
   (run-epochs per second, compilation, memory), a batch's checkpoints, runs
   of different sizes in one batch or a batch per size, the multi-process
   path (``mer_lib.experiments.reproduce(workers=...)`` with Keras' fit in
   each worker), the FLOPs of a run-epoch counted from the layers against the
   device's peak, and the wall time of the plan of issue 21 with each path
   (estimated from the measured rates). On a CPU it runs small
   (``--settings cpu``: 8x8 clips, N up to 16) and says so. Writes
   ``speed-<device>.json`` and ``speed-<device>.md``.

Parts 1 and 2 write ``training-<device>.json`` and ``training-<device>.md`` under --out, part 3
``speed-<device>.json`` and ``.md``; each prints its tables. Not a timed test.
"""

import argparse
import dataclasses
import gc
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


#: Sizes of the speed part. "gpu": the paper's clips (64x64) and the runs of the issue's targets; "cpu": small
#: clips (8x8: XLA's 3-D convolutions are slow on a CPU) and fewer runs, so that it ends within the hour on two
#: cores (its figures are relative, not absolute); "quick": a check that everything runs.
SPEED_SETTINGS = {
    "gpu": {"size": 64, "epochs": 4, "n_runs": (1, 4, 16, 64), "workers": (1, 12), "worker_runs": 24,
            "ragged_runs": 22},
    "cpu": {"size": 8, "epochs": 3, "n_runs": (1, 4, 16), "workers": (1, 2), "worker_runs": 4, "ragged_runs": 6},
    "quick": {"size": 8, "epochs": 2, "n_runs": (1, 4), "workers": (1,), "worker_runs": 2, "ragged_runs": 4},
}
#: The plan of issue 21, item 6: every row of mer_lib.experiments.FULL_ROWS, both recipes, the paper's split with
#: 10 seeds and leave-one-subject-out (one fold per subject) with 1 seed, 100 epochs each. The plan the results
#: folder gets, `mer reproduce --all` (mer_lib.experiments.FULL_PLAN), holds it and adds issue 23's controls.
PLAN = {"repeats": 10, "loso_seeds": 1, "epochs": 100, "recipes": ("paper", "stable")}
#: A representative row of each model (its inputs).
MODEL_ROWS = {"two_stream": "pbvm", "two_stream_corrected": "pbvm", "one_stream": None, "cnn_rnn": None,
              "frames_stream": None, "flow_stream": "pbvm"}


def _speed_data(size):
    """Random clips of SynthME's shapes (speed does not depend on the pixels), SynthME's labels and subjects."""
    from mer_lib.data import synthetic_dataset

    meta = synthetic_dataset(seed=0, size=32)        # the same labels and subjects at every size
    rng = np.random.default_rng(0)
    n = len(meta.labels)
    frames = rng.normal(size=(n, 8, size, size, 1)).astype(np.float32)
    flows = {"pbvm": rng.normal(size=(n, 16, size, size, 1)).astype(np.float32)}
    return frames, flows, np.asarray(meta.labels), np.asarray(meta.subjects).astype(str)


def _peak_flops():
    """The arithmetic a matrix product reaches here (FLOP/s), and the dtype it was measured in."""
    import jax
    import jax.numpy as jnp

    gpu = jax.devices()[0].platform == "gpu"
    n, dtype = (8192, jnp.bfloat16) if gpu else (1024, jnp.float32)
    a = jnp.ones((n, n), dtype)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best, jnp.dtype(dtype).name


def _memory():
    """Peak device memory so far (bytes; the process's peak resident memory on a CPU) and what it is."""
    import resource

    import jax

    try:
        stats = jax.devices()[0].memory_stats() or {}
    except (NotImplementedError, RuntimeError):
        stats = {}
    if "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"]), "device peak"
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "process peak resident (CPU)"


def _steady(seconds):
    """An epoch's time once compiled: the median of the epochs after the first."""
    return float(np.median(seconds[1:])) if len(seconds) > 1 else float(seconds[0])


def _vmap_against_a_loop(make, x, y, n_runs, repeats=5):
    """One optimiser step of n_runs runs in one program: vmap over the stacked runs, against a Python loop over
    them (n_runs copies of the step in the program). Compile time and time per step of each."""
    import jax
    import jax.numpy as jnp
    import keras

    model = make()
    opt = keras.optimizers.Adam(1e-3)
    opt.build(model.trainable_variables)
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    ov = [v.value for v in opt.variables]
    xb = jax.tree_util.tree_map(lambda a: jnp.asarray(a[:8]), x)
    yb = jax.nn.one_hot(jnp.asarray(y[:8]), 3)

    def step(tv, ntv, ov):
        def loss(tv):
            pred, new_ntv = model.stateless_call(tv, ntv, xb, training=True)
            return keras.losses.categorical_crossentropy(yb, pred).mean(), new_ntv
        (_, new_ntv), grads = jax.value_and_grad(loss, has_aux=True)(tv)
        new_tv, new_ov = opt.stateless_apply(ov, grads, tv)
        return new_tv, new_ntv, new_ov

    stacked = [[jnp.stack([a] * n_runs) for a in part] for part in (tv, ntv, ov)]
    separate = [(tv, ntv, ov)] * n_runs
    out = {}
    for name, fn, args in (("vmap", jax.jit(jax.vmap(step)), stacked),
                           ("python loop in one program", jax.jit(lambda runs: [step(*r) for r in runs]), [separate])):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        first = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times.append(time.perf_counter() - t0)
        out[name] = {"compile_s": first - min(times), "step_s": min(times)}
    return out


def speed(settings_name, models, budget):
    """Training speed, one run of everything side by side on this device; see SPEED_SETTINGS."""
    import jax
    import keras

    from mer_lib import experiments as ex
    from mer_lib.batched import PEAK_FLOPS, Run, forward_macs, train_many
    from mer_lib.evaluate import loso_splits, paper_split
    from mer_lib.train import train

    cfg = SPEED_SETTINGS[settings_name]
    t_start = time.perf_counter()
    over = lambda: time.perf_counter() - t_start > budget   # noqa: E731
    frames, flows, labels, subjects = _speed_data(cfg["size"])
    train_idx, _ = paper_split(labels, 0.2, seed=0)
    epochs = cfg["epochs"]
    peak, peak_dtype = _peak_flops()
    report = {"settings": {"name": settings_name, **cfg, "clips": int(len(labels)), "train_clips": int(len(train_idx)),
                           "batch_size": 8, "recipe": "paper", "models": list(models)},
              "peak_flops_measured": peak, "peak_dtype": peak_dtype, "models": {}, "skipped": []}
    if jax.devices()[0].platform == "gpu":
        gpu_name = jax.devices()[0].device_kind
        report["device_kind"] = gpu_name
        report["peak_flops_datasheet"] = next((v for k, v in PEAK_FLOPS.items() if k in gpu_name), None)
    print(f"speed: {settings_name} settings, {jax.devices()[0].device_kind}; matrix product {peak / 1e9:,.0f} GFLOP/s "
          f"({peak_dtype})", flush=True)

    def extras(main_model):
        """A batch's checkpoints, vmap against a loop, runs of different sizes, the multi-process path."""
        row = ex.Row(main_model, main_model, MODEL_ROWS[main_model])
        flow_shape = None if row.flow_input is None else flows[row.flow_input].shape[1:]
        make = ex.build(main_model, frames.shape[1:], flow_shape, 3)
        all_x = ex.row_inputs(row, frames, flows, np.arange(len(labels)))
        n_big = cfg["n_runs"][-1]
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
            warnings.simplefilter("ignore")
            if not over():
                ck = {}
                for every in (1, "auto"):
                    out = train_many(make, [Run(index=train_idx, seed=s) for s in range(n_big)],
                                     data=(all_x, labels), epochs=epochs, verbose=0, keep_models=False,
                                     checkpoint_dir=Path(tmp) / str(every), checkpoint_every=every)
                    size = sum(f.stat().st_size for f in (Path(tmp) / str(every)).iterdir())
                    ck[str(every)] = {"checkpoint_s": out[0].checkpoint_seconds, "train_s": out[0].train_seconds,
                                      "share": out[0].checkpoint_seconds / out[0].train_seconds, "file_bytes": size}
                    del out
                report["batch_checkpoints"] = {"model": main_model, "n_runs": n_big, "epochs": epochs, **ck}
                print(f"  checkpoints of a batch of {n_big}: every epoch {ck['1']['share']:.0%} of training, auto "
                      f"{ck['auto']['share']:.0%}", flush=True)
            # vmap against the alternative of a loop over the runs inside one program
            if not over():
                n_alt = cfg["n_runs"][1]
                alternatives = _vmap_against_a_loop(make, ex.row_inputs(row, frames, flows, train_idx),
                                                    labels[train_idx], n_alt)
                report["vmap_against_loop"] = {"model": main_model, "n_runs": n_alt, **alternatives}
                v = report["vmap_against_loop"]
                print(f"  one step of {n_alt} runs: vmap {v['vmap']['step_s'] * 1000:.1f} ms (compile "
                      f"{v['vmap']['compile_s']:.1f} s), a loop {v['python loop in one program']['step_s'] * 1000:.1f} "
                      f"ms (compile {v['python loop in one program']['compile_s']:.1f} s)", flush=True)
            # runs of different sizes (leave-one-subject-out folds): one batch with skipped steps, or a batch per size
            if not over():
                folds = list(loso_splits(subjects))[: cfg["ragged_runs"]]
                runs = [Run(index=tr, seed=k) for k, (tr, _) in enumerate(folds)]
                sizes = [len(tr) for tr, _ in folds]
                t0 = time.perf_counter()
                train_many(make, runs, data=(all_x, labels), epochs=epochs, verbose=0, keep_models=False)
                one = time.perf_counter() - t0
                t0 = time.perf_counter()
                for size in sorted(set(sizes)):
                    train_many(make, [r for r, s in zip(runs, sizes) if s == size], data=(all_x, labels),
                               epochs=epochs, verbose=0, keep_models=False)
                grouped = time.perf_counter() - t0
                steps = [-(-s // 8) for s in sizes]
                full = max(s // 8 for s in sizes)
                rests = sorted({s % 8 for s in sizes if s % 8})
                done = sum(s / 8 for s in sizes)                      # step-equivalents each run needs per epoch
                spent = len(sizes) * (full + sum(r / 8 for r in rests))   # what one batch computes per epoch
                report["ragged"] = {"model": main_model, "runs": len(runs), "sizes": sizes,
                                    "distinct_sizes": len(set(sizes)), "steps": steps, "one_batch_s": one,
                                    "grouped_s": grouped, "epochs": epochs,
                                    "padding_overhead": spent / done - 1}
                print(f"  {len(runs)} folds of {len(set(sizes))} sizes: one batch {one:.1f} s, a batch per size "
                      f"{grouped:.1f} s", flush=True)
            # the multi-process path as it was: mer_lib.experiments.reproduce with Keras' own loop in each worker
            report["workers"] = {}
            for w in cfg["workers"]:
                if over():
                    report["skipped"].append(f"workers={w} (time budget)")
                    continue
                old = os.environ.get("MER_TRAINER")
                os.environ["MER_TRAINER"] = "fit"
                try:
                    t0 = time.perf_counter()
                    ex.reproduce(Path(tmp) / f"w{w}", frames, flows, labels, subjects, rows=[row],
                                 recipes=("paper",), protocols=("paper",), repeats=cfg["worker_runs"], epochs=epochs,
                                 workers=w, progress=False)
                    wall = time.perf_counter() - t0
                finally:
                    if old is None:
                        os.environ.pop("MER_TRAINER")
                    else:
                        os.environ["MER_TRAINER"] = old
                report["workers"][str(w)] = {"trainings": cfg["worker_runs"], "epochs": epochs, "wall_s": wall,
                                             "run_epochs_per_s": cfg["worker_runs"] * epochs / wall}
                print(f"  reproduce, {w} worker(s): {cfg['worker_runs'] * epochs / wall:.2f} run-epochs/s",
                      flush=True)

    for model_name in models:
        row = ex.Row(model_name, model_name, MODEL_ROWS[model_name])
        flow_shape = None if row.flow_input is None else flows[row.flow_input].shape[1:]
        make = ex.build(model_name, frames.shape[1:], flow_shape, 3)
        all_x = ex.row_inputs(row, frames, flows, np.arange(len(labels)))
        x = ex.row_inputs(row, frames, flows, train_idx)
        y = labels[train_idx]
        entry = {"forward_macs_per_clip": forward_macs(make())}
        entry["flops_per_run_epoch"] = 6 * entry["forward_macs_per_clip"] * len(train_idx)
        report["models"][model_name] = entry
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Keras' own loop, one run at a time: epochs without and with a checkpoint after every one
            t0 = time.perf_counter()
            res = train(make, x, y, epochs=epochs, verbose=0, trainer="fit")
            entry["fit"] = {"steady_epoch_s": _steady(res.epoch_seconds), "first_epoch_s": res.epoch_seconds[0],
                            "overhead_s": time.perf_counter() - t0 - sum(res.epoch_seconds)}
            with tempfile.TemporaryDirectory() as tmp:
                res = train(make, x, y, epochs=epochs, verbose=0, trainer="fit", checkpoint_dir=tmp,
                            checkpoint_every=1)
            entry["fit"]["checkpoint_s"] = res.checkpoint_seconds / epochs
            entry["fit"]["checkpoint_share"] = res.checkpoint_seconds / res.train_seconds
            print(f"  {model_name}: fit {entry['fit']['steady_epoch_s']:.3f} s per epoch, checkpoint "
                  f"{entry['fit']['checkpoint_s']:.3f} s", flush=True)
            keras.backend.clear_session()
            # the batched trainer at N runs
            entry["batched"] = {}
            for n_runs in cfg["n_runs"]:
                if over():
                    report["skipped"].append(f"{model_name}: batched N={n_runs} (time budget)")
                    continue
                runs = [Run(index=train_idx, seed=s) for s in range(n_runs)]
                t0 = time.perf_counter()
                out = train_many(make, runs, data=(all_x, labels), epochs=epochs, verbose=0, keep_models=False)
                wall = time.perf_counter() - t0
                steady = _steady(out[0].epoch_seconds)
                memory, memory_kind = _memory()
                entry["batched"][str(n_runs)] = {
                    "steady_epoch_s": steady, "run_epochs_per_s": n_runs / steady,
                    "compile_s": max(out[0].epoch_seconds[0] - steady, 0.0),
                    "host_s_per_run": (wall - sum(out[0].epoch_seconds)) / n_runs, "memory_bytes": memory,
                    "memory_kind": memory_kind, "precision": out[0].precision}
                print(f"  {model_name}: batched N={n_runs}: {n_runs / steady:.3g} run-epochs/s, compile "
                      f"{entry['batched'][str(n_runs)]['compile_s']:.1f} s", flush=True)
                del out
                gc.collect()
            keras.backend.clear_session()
        if model_name == models[0]:     # the extras right after the first model: a short budget keeps them
            extras(model_name)
    # the plan the results folder gets (`mer reproduce --all`), then issue 21's item 6, which it contains
    report["plan"] = _plan_estimate(report, subjects, {**ex.FULL_PLAN, "epochs": PLAN["epochs"]})
    report["plan_issue21"] = _plan_estimate(report, subjects)
    report["seconds"] = time.perf_counter() - t_start
    return report


def _plan_trainings(plan, n_subjects):
    """Trainings of a plan by (model, recipe): the groups the batched trainer compiles apart.

    Parameters
    ----------
    plan : dict
        As :func:`mer_lib.experiments.count_trainings` takes it (Rows in ``rows``).
    n_subjects : int
        Subjects of the dataset (the folds of leave-one-subject-out).

    Returns
    -------
    dict
        (model name, recipe name) -> trainings; the nested choice's inner
        trainings count under the grid recipe each of them trains.
    """
    from mer_lib import experiments as ex

    grid = tuple(plan.get("nested") or ())
    out = {}
    for row in plan["rows"]:
        for part, n in ex.count_trainings({**plan, "rows": [row]}, n_subjects)["by_part"].items():
            what = part.split(", ", 1)[1]
            shares = {r: n // len(grid) for r in grid} if what == "nested choice" else {what: n}
            for recipe, k in shares.items():
                out[(row.model, recipe)] = out.get((row.model, recipe), 0) + k
    return out


def _plan_estimate(report, subjects, plan=None):
    """Wall time of a plan with each path, from the rates measured above (an estimate, not a run).

    Parameters
    ----------
    report : dict
        The speed report so far (``models``, ``workers``, the peaks).
    subjects : array of shape (n_clips,)
        Each clip's subject (the folds of leave-one-subject-out).
    plan : dict, optional
        As :func:`mer_lib.experiments.count_trainings` takes it, with
        ``epochs``; default: issue 21's item 6 (:data:`PLAN` over
        ``mer_lib.experiments.FULL_ROWS``).

    Returns
    -------
    dict
        ``trainings``, ``epochs``, ``rows``, ``recipes``, ``missing_models``
        (models of the plan the report did not measure, left out of every
        path), ``paths`` (path -> seconds) and ``peak_used`` (FLOP/s).
    """
    from mer_lib import experiments as ex
    from mer_lib.evaluate import loso_splits

    if plan is None:
        plan = dict(rows=ex.FULL_ROWS, recipes=PLAN["recipes"], protocols=("paper", "loso"), repeats=PLAN["repeats"],
                    loso_seeds=PLAN["loso_seeds"], n_folds=None, epochs=PLAN["epochs"])
    epochs = plan["epochs"]
    groups = _plan_trainings(plan, len(list(loso_splits(subjects))))
    measured = report["models"]
    est = {"trainings": sum(groups.values()), "epochs": epochs, "rows": len(plan["rows"]),
           "recipes": sorted({r for _, r in groups}),
           "missing_models": sorted({m for m, _ in groups} - set(measured)), "paths": {}}
    fit = batched = limit = 0.0
    peak = report.get("peak_flops_datasheet") or report["peak_flops_measured"]
    for (model, _), trainings in groups.items():
        if model not in measured:
            continue
        m = measured[model]
        fit += trainings * (epochs * m["fit"]["steady_epoch_s"] + m["fit"]["overhead_s"])
        limit += trainings * epochs * m["flops_per_run_epoch"] / peak
        if m["batched"]:
            # one program per model and recipe (a recipe's normalisation and precision change it), in chunks of
            # the largest N measured
            n_max = max(int(k) for k in m["batched"])
            best = m["batched"][str(n_max)]
            batched += (-(-trainings // n_max) * (best["compile_s"] + epochs * best["steady_epoch_s"])
                        + trainings * best["host_s_per_run"])
    est["paths"]["train, one run at a time (Keras fit)"] = fit
    if report.get("workers"):
        w = max(report["workers"], key=int)
        rate = report["workers"][w]["run_epochs_per_s"]
        two = measured.get("two_stream", next(iter(measured.values())))
        # the measured rate is the two-stream network's; other models are scaled by their single-run epoch times
        counted = {k: n for k, n in groups.items() if k[0] in measured}
        scale = sum(n * measured[m]["fit"]["steady_epoch_s"] for (m, _), n in counted.items()) / (
            sum(counted.values()) * two["fit"]["steady_epoch_s"])
        est["paths"][f"reproduce --workers {w} (Keras fit in each)"] = (
            sum(counted.values()) * epochs / rate * scale)
    est["paths"]["batched trainer"] = batched
    est["paths"]["physical limit (the steps' FLOPs at the peak)"] = limit
    est["peak_used"] = peak
    return est


def _speed_markdown(report, device):
    s = report["settings"]
    lines = [f"# Training speed ({device})", "",
             f"Settings `{s['name']}`: clips of {s['size']}x{s['size']} pixels ({s['clips']} SynthME-shaped clips, "
             f"{s['train_clips']} training clips, batch 8, the paper's recipe), {s['epochs']} epochs per measurement "
             f"(the first compiles; rates are from the others)."
             + (" **A CPU run is small and its figures are relative**: compare the columns, not the absolute "
                "times, with a GPU's." if device == "cpu" else ""), ""]
    head = ["model", "GFLOP per run-epoch", "fit: s per epoch", "fit: checkpoint"]
    ns = sorted({int(n) for m in report["models"].values() for n in m.get("batched", {})})
    head += [f"batched N={n}: run-epochs/s" for n in ns] + ["compile (largest N)", "memory (largest N)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in report["models"].items():
        fit = m["fit"]
        cells = [name, f"{m['flops_per_run_epoch'] / 1e9:.3g}", f"{fit['steady_epoch_s']:.3g} "
                 f"({1 / fit['steady_epoch_s']:.3g} run-epochs/s)",
                 f"{fit['checkpoint_s']:.3g} s ({fit['checkpoint_share']:.0%})"]
        for n in ns:
            b = m["batched"].get(str(n))
            cells.append("skipped" if b is None else
                         f"{b['run_epochs_per_s']:.3g} ({b['run_epochs_per_s'] * fit['steady_epoch_s']:.2g}x fit)")
        big = m["batched"].get(str(max((int(k) for k in m["batched"]), default=0)))
        cells += ["" if big is None else f"{big['compile_s']:.1f} s",
                  "" if big is None else f"{big['memory_bytes'] / 2**30:.2f} GiB ({big['memory_kind']})"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if report.get("batch_checkpoints"):
        c = report["batch_checkpoints"]
        lines += [f"Checkpoints of a batch of {c['n_runs']} {c['model']} runs (one file, "
                  f"{c['1']['file_bytes'] / 2**20:.0f} MiB): after every epoch {c['1']['share']:.0%} of the training "
                  f"time, `checkpoint_every='auto'` {c['auto']['share']:.0%} (over {c['epochs']} epochs, the last "
                  "always written).", ""]
    if report.get("vmap_against_loop"):
        v = report["vmap_against_loop"]
        lines += [f"One optimiser step of {v['n_runs']} {v['model']} runs in one program: `jax.vmap` over the stacked "
                  f"runs {1000 * v['vmap']['step_s']:.1f} ms (compilation {v['vmap']['compile_s']:.1f} s), a Python "
                  f"loop over the runs {1000 * v['python loop in one program']['step_s']:.1f} ms (compilation "
                  f"{v['python loop in one program']['compile_s']:.1f} s).", ""]
    if report.get("ragged"):
        r = report["ragged"]
        lines += [f"Runs of different sizes: {r['runs']} leave-one-subject-out folds of {r['distinct_sizes']} sizes "
                  f"({min(r['sizes'])}-{max(r['sizes'])} clips): one batch (steps a run does not have skipped, one "
                  f"step per size of last batch) {r['one_batch_s']:.1f} s, one batch per size {r['grouped_s']:.1f} s, "
                  f"compilation included; the one batch computes {r['padding_overhead']:.0%} more steps than the "
                  "runs need.", ""]
    if report.get("workers"):
        lines += ["The multi-process path (`reproduce(workers=...)`, Keras' fit in each worker, two-stream, "
                  "compilation and start-up included): " + "; ".join(
                      f"{w} worker(s) {v['run_epochs_per_s']:.3g} run-epochs/s ({v['trainings']} trainings of "
                      f"{v['epochs']} epochs in {v['wall_s']:.0f} s)" for w, v in report["workers"].items()), ""]
    plans = {"`mer reproduce --all`": report["plan"], "issue 21, item 6": report.get("plan_issue21")}
    plans = {k: p for k, p in plans.items() if p}
    p = report["plan"]
    lines += ["## The plans' wall time", "", "Estimated from the rates above, not run. `mer reproduce --all` is the "
              "plan of the results folder (`mer_lib.experiments.FULL_PLAN`); issue 21's item 6 is its part without "
              "issue 23's controls (the rows of `FULL_ROWS`, both recipes, no nested choice, no float32 control).", ""]
    for name, q in plans.items():
        lines.append(f"- {name}: {q['trainings']} trainings of {q['epochs']} epochs ({q['rows']} rows; recipes "
                     f"{', '.join(q['recipes'])})" + (f"; models not measured here, left out of every path: "
                                                        f"{', '.join(q['missing_models'])}" if q["missing_models"]
                                                        else ""))
    lines += ["", "| path | " + " | ".join(plans) + " |", "|---|" + "---|" * len(plans)]
    lines += [f"| {k} | " + " | ".join(f"{q['paths'][k] / 60:.1f} min" if k in q["paths"] else "" for q in
                                       plans.values()) + " |" for k in p["paths"]]
    lines += ["", f"The physical limit uses {p['peak_used'] / 1e9:,.0f} GFLOP/s "
              + ("(the card's data sheet)." if report.get("peak_flops_datasheet") else
                 f"(a {report['peak_dtype']} matrix product measured here).")]
    if "paper-float32" in p["recipes"]:
        lines += ["The float32 control's trainings are counted at the measured rates, those of the precision the "
                  "benchmark trained in."]
    if report.get("skipped"):
        lines += ["", "Skipped (time budget): " + "; ".join(report["skipped"])]
    return "\n".join(lines) + "\n"


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


def _run_speed(args):
    """The speed part, on Keras' JAX backend (this process's, or a child's)."""
    from mer_lib.env import gpu_names
    from mer_lib.experiments import MODELS, provenance

    if os.environ.get("KERAS_BACKEND") != "jax":
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        if not gpu_names():
            # on a CPU, JAX's default (partitionable) Threefry compiles dropout on 5-D tensors very slowly
            env.setdefault("JAX_THREEFRY_PARTITIONABLE", "false")
        cmd = [sys.executable, __file__, "--part", "speed", "--out", args.out, "--settings", args.settings,
               "--budget", str(args.budget)] + sum((["--model", m] for m in args.model or []), []) + (
            ["--note", args.note] if args.note else [])
        subprocess.run(cmd, check=True, env=env)
        return
    started = provenance(command=" ".join(["python"] + sys.argv))
    device = "gpu" if gpu_names() else "cpu"
    settings = args.settings if args.settings != "auto" else device
    models = args.model or list(MODELS)
    t0 = time.perf_counter()
    report = speed(settings, models, args.budget)
    started["wall_seconds"] = round(time.perf_counter() - t0, 1)
    started["keras_backend"] = "jax"
    import jax

    started["jax_threefry_partitionable"] = bool(jax.config.jax_threefry_partitionable)
    if args.note:
        started["note"] = args.note
    report["provenance"] = started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"speed-{device}.json").write_text(json.dumps(report, indent=1))
    md = _speed_markdown(report, device) + "\n## Provenance\n\n```json\n" + json.dumps(started, indent=1) + "\n```\n"
    (out / f"speed-{device}.md").write_text(md)
    print(md)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=("diagnosis", "ablation", "speed", "all"))
    parser.add_argument("--epochs", type=int, default=20, help="epochs of each ablation run (default 20)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of each ablation run (default 2)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--only", action="append", default=None,
                        help="run only the recipe of this name (repeatable); its rows replace the saved ones")
    parser.add_argument("--settings", default="auto", choices=("auto", "gpu", "cpu", "quick"),
                        help="sizes of the speed part (default: gpu with a GPU, cpu without)")
    parser.add_argument("--model", action="append", default=None,
                        help="speed: measure only this model of mer_lib.experiments.MODELS (repeatable)")
    parser.add_argument("--budget", type=float, default=3600.0,
                        help="speed: seconds after which the remaining measurements are skipped (and listed)")
    parser.add_argument("--note", default=None,
                        help="speed: a remark recorded in the provenance (e.g. 'shared machine')")
    args = parser.parse_args()
    if args.part == "speed":
        _run_speed(args)
        return
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
        md += ["## Speed (an earlier version of this benchmark; see speed-<device>.md for the current one)", "",
               _table([tuple(r) for r in report["speed"]]), "", "Reference (H200, the training issue):",
               "", _table(list(REFERENCE_H200.items())), ""]
    md += ["## Provenance", "", "```json", json.dumps(report["provenance"], indent=1), "```", ""]
    (out / f"training-{device}.md").write_text("\n".join(md))
    print("\n".join(md))
    if args.part == "all":
        _run_speed(args)


if __name__ == "__main__":
    main()
