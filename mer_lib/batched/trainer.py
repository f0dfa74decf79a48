"""The batched trainer: :func:`train_many`, its batches, their checkpoints and resumption."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

from mer_lib.batched.arithmetic import precision_for_device
from mer_lib.batched.program import Run, _model_inputs, _prepare, _Program
from mer_lib.env import collect_garbage
from mer_lib.errors import UserInputError

__all__ = ["train_many", "CHECKPOINT_NAME"]

#: The name of a batch's checkpoint file inside ``checkpoint_dir``: one file per batch, replaced atomically.
CHECKPOINT_NAME = "batch-{index:03d}.npz"


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints: one file per batch, written atomically


def _save(path, state, meta):
    import jax

    from mer_lib._io import atomic_write

    leaves = jax.tree_util.tree_leaves(state)
    arrays = {f"a{i:05d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **arrays), suffix=".npz")


def _read_meta(path):
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
        for key in ("epoch", "histories", "fingerprints", "initial_losses"):
            meta[key]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise UserInputError(f"{path} is not a batch checkpoint this library wrote ({type(err).__name__}); "
                             "delete it to start the batch again") from None
    return meta


def _load(path, like):
    import zipfile

    import jax
    import jax.numpy as jnp

    leaves, tree = jax.tree_util.tree_flatten(like)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = [z[f"a{i:05d}"] for i in range(len(leaves))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        raise UserInputError(f"the checkpoint {path} is unreadable or incomplete; delete it to start the batch "
                             "again") from None
    for a, leaf in zip(arrays, leaves):
        if a.shape != leaf.shape:
            raise UserInputError(f"the checkpoint {path} does not fit this batch (an array of shape {a.shape} "
                                 f"where {leaf.shape} is expected): it was written by another model or batch")
    return jax.tree_util.tree_unflatten(tree, [jnp.asarray(a, dtype=leaf.dtype) for a, leaf in zip(arrays, leaves)])


# ----------------------------------------------------------------------------------------------------------------
# The trainer


def train_many(build_model, runs, *, data=None, n_classes=3, epochs=100, batch_size=8, checkpoint_dir=None,
               checkpoint_every="auto", cpu_epochs=None, mixed_precision="auto", keep_models=True, max_batch=None,
               verbose=1):
    """Train many runs of one architecture at once, each as :func:`mer_lib.train.train` would train it.

    Needs Keras' JAX backend (``KERAS_BACKEND=jax`` set before Keras is
    imported). The runs are trained in batches of at most ``max_batch``, each
    batch one compiled program (see the module's description).

    Parameters
    ----------
    build_model : callable
        ``build_model() -> keras.Model`` (uncompiled), called once per run
        after seeding with the run's seed, as ``train`` calls it. Build it with
        the recipes' ``normalization`` (every run of a call shares it).
    runs : sequence of Run
    data : tuple (inputs, labels), optional
        Clips shared by the runs that give ``index`` (and ``validation`` or
        ``predict`` rows): inputs ``(P, T, H, W, 1)`` or a dict of such
        arrays, labels ``(P,)``.
    n_classes : int
    epochs : int
        Every run's.
    batch_size : int
        Clips per optimiser step of each run (the paper's 8).
    checkpoint_dir : str or Path, optional
        One file per batch (``batch-000.npz``...), replaced atomically;
        calling again with the same runs continues after the last
        checkpointed epoch and ends with the weights of an uninterrupted call.
    checkpoint_every : "auto" or int
        As in ``train``: "auto" writes one only when the time since the last
        is at least ten times what writing one took, and after the last epoch.
    cpu_epochs : int, optional
        Without a GPU, train at most this many epochs, and say so.
    mixed_precision : "auto" or bool
        See :func:`precision_for_device`.
    keep_models : bool
        Return a Keras model with each run's weights (``TrainResult.model``);
        False returns None there and frees each batch's models (ask for the
        predictions you need with ``Run.predict``).
    max_batch : int, optional
        Runs per compiled program (device memory); default: all. When the
        runs are split, runs of similar training-set sizes share a batch (a
        batch's epoch has the steps of its largest run); each run's training
        does not depend on its neighbours.
    verbose : int
        1: a progress bar over the epochs.

    Returns
    -------
    list of TrainResult
        One per run, in order. ``trainer`` is "batched", ``batch_runs`` the
        size of its batch, ``train_seconds`` and ``checkpoint_seconds`` the
        batch's (shared by its runs); ``predictions`` holds the probabilities
        of ``Run.predict``, shape (M, n_classes).

    Warns
    -----
    CollapseWarning
        For each run that collapsed, naming it.
    """
    import keras

    from mer_lib.env import gpu_names
    from mer_lib.train import CollapseWarning, DataWarning, DeviceNotice

    if keras.backend.backend() != "jax":
        raise UserInputError("train_many trains on Keras' JAX backend: set KERAS_BACKEND=jax before Keras is "
                             f"imported (this process uses {keras.backend.backend()!r})")
    runs = list(runs)
    if not runs:
        raise UserInputError("runs: nothing to train (an empty list)")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("n_classes", n_classes)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise UserInputError(f"{name} must be a positive integer, got {value!r}")
    if n_classes < 2:
        raise UserInputError(f"n_classes must be at least 2, got {n_classes}")
    if checkpoint_every != "auto" and (not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1):
        raise UserInputError(f"checkpoint_every must be 'auto' or a positive integer, got {checkpoint_every!r}")
    if max_batch is not None and (not isinstance(max_batch, (int, np.integer)) or max_batch < 1):
        raise UserInputError(f"max_batch must be a positive integer or None, got {max_batch!r}")
    gpus = gpu_names()
    device = f"GPU: {', '.join(gpus)}" if gpus else "CPU"
    notes, shortened = [], False
    if not gpus:
        notes.append("No GPU found: training on the CPU, which is much slower "
                     "(in Colab: Runtime > Change runtime type > GPU).")
        if cpu_epochs is not None and cpu_epochs < epochs:
            notes.append(f"Shortened run on the CPU: {cpu_epochs} epochs instead of {epochs}.")
            epochs, shortened = int(cpu_epochs), True
    for note in notes:
        warnings.warn(note, DeviceNotice, stacklevel=2)
    policy, why = precision_for_device(mixed_precision)
    size = len(runs) if max_batch is None else int(max_batch)
    # batches of runs of similar sizes: a batch's epoch has as many steps as its largest run needs
    named = [r if r.name else Run(**{**r.__dict__, "name": f"run {i}"}) for i, r in enumerate(runs)]
    lengths = [len(r.index) if r.index is not None else len(r.labels) if r.labels is not None else 0 for r in runs]
    order = sorted(range(len(runs)), key=lambda i: lengths[i]) if size < len(runs) else list(range(len(runs)))
    results = [None] * len(runs)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        for b, start in enumerate(range(0, len(runs), size)):
            chosen = order[start:start + size]
            path = None if checkpoint_dir is None else Path(checkpoint_dir) / CHECKPOINT_NAME.format(index=b)
            done = _train_batch(build_model, [named[i] for i in chosen], data, n_classes, epochs, batch_size, path,
                                checkpoint_every, keep_models, verbose, device, shortened, list(notes), policy, why)
            for i, result in zip(chosen, done):
                results[i] = result
            collect_garbage()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    for i, (run, result) in enumerate(zip(runs, results)):
        label = run.name or f"run {i}"
        for kind, messages in ((DataWarning, result.data_warnings), (CollapseWarning, result.warnings)):
            for message in messages:
                warnings.warn(f"{label}: {message}" if len(runs) > 1 else message, kind, stacklevel=2)
    return results


def _train_batch(build_model, named, data, n_classes, epochs, batch_size, path, checkpoint_every, keep_models,
                 verbose, device, shortened, notes, policy, why):
    import jax
    import jax.numpy as jnp

    from mer_lib import diagnostics
    from mer_lib.train import TrainResult, _deterministic, _model_signature, compile_with_recipe, get_recipe

    # each run's initial weights: the model built after seeding, as train builds it (the process's random
    # states set back after, as train sets them back)
    models, initial = [], []
    for run in named:
        with _deterministic(run.seed):
            model = build_model()
        if get_recipe(run.recipe).zero_head:
            head = model.layers[-1]
            head.kernel.assign(np.zeros(head.kernel.shape, dtype=head.kernel.dtype))
        initial.append(([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]))
        models.append(model)
    template = models[0]
    signature = _model_signature(template)
    for run, model in zip(named, models):
        if _model_signature(model) != signature:
            raise UserInputError(f"{run.name}: build_model gave another architecture than for {named[0].name}: the "
                                 "runs of a batch share one (a recipe's normalization is part of it)")
    model_inputs = _model_inputs(template)
    pool, prepared = _prepare(named, data, model_inputs, n_classes, epochs, batch_size, signature, path is not None)
    pool_arrays, pool_labels = pool.arrays()
    kinds = {key: ("flow" if key == "flow" else "frames") for key in model_inputs}
    program = _Program(template, prepared, batch_size, n_classes, kinds, pool_labels)
    if not keep_models:
        models = [template]
    stack = lambda values: [jnp.stack(v) for v in zip(*values)]  # noqa: E731
    opt_init = [v.value for v in program.optimizer.variables]
    state = {"tv": stack([tv for tv, _ in initial]), "ntv": stack([ntv for _, ntv in initial]),
             "ov": [jnp.broadcast_to(v, (len(named),) + tuple(v.shape)) + 0 for v in opt_init]}
    del initial
    if program.restore:
        state.update(best_tv=[a + 0 for a in state["tv"]], best_ntv=[a + 0 for a in state["ntv"]],
                     best_loss=jnp.full(len(named), jnp.inf, jnp.float32),
                     best_epoch=jnp.zeros(len(named), jnp.int32))
    pool_device = {k: jnp.asarray(v) for k, v in pool_arrays.items()}
    fingerprints = [p.fingerprint for p in prepared]
    start, histories, initial_losses = 0, [{} for _ in prepared], None
    if path is not None and path.exists():
        meta = _read_meta(path)
        if len(meta["fingerprints"]) != len(prepared):
            raise UserInputError(f"the checkpoint {path} holds {len(meta['fingerprints'])} runs, this batch "
                                 f"{len(prepared)}: it was made by another batch; use another checkpoint_dir")
        for p, saved, mine in zip(prepared, meta["fingerprints"], fingerprints):
            differs = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
            if differs:
                raise UserInputError(f"the checkpoint {path} was made by another run ({p.label}: different "
                                     f"{', '.join(differs)}: {[saved.get(k) for k in differs]} there, "
                                     f"{[mine.get(k) for k in differs]} here); use another checkpoint_dir")
        if int(meta["epoch"]) > epochs:
            raise UserInputError(f"the checkpoint {path} holds {meta['epoch']} epochs, more than the {epochs} asked "
                                 "for: use another checkpoint_dir (the longer batch is kept)")
        if meta.get("precision") != policy:
            raise UserInputError(f"the checkpoint {path} was trained under {meta.get('precision')}, this call "
                                 f"would continue under {policy}: use another checkpoint_dir")
        state = _load(path, state)
        start, histories, initial_losses = int(meta["epoch"]), meta["histories"], meta["initial_losses"]
        if start < epochs and verbose:
            print(f"Resuming the batch of {len(prepared)} runs from {path} after epoch {start} of {epochs}.")
    if initial_losses is None:       # the loss of the untrained models on their training clips, as train measures it
        probs = program.predict(state, pool_device, [p.fit for p in prepared], pool_labels)
        initial_losses = [float(-np.mean(np.log(np.clip(pr.astype(np.float64)[np.arange(len(p.fit_labels)),
                                                                               p.fit_labels], 1e-7, 1.0))))
                          for pr, p in zip(probs, prepared)]
    bar = None
    if verbose and start < epochs:
        from mer_lib.env import progress_bar

        bar = progress_bar(total=epochs, initial=start, desc=f"{len(prepared)} runs at once")
    train_seconds = checkpoint_seconds = compile_seconds = 0.0
    epoch_seconds = []
    last_save, save_cost = time.perf_counter(), 0.0
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        tables = program.epoch_tables(prepared, epoch)
        state, out = program.run_epoch(state, pool_device, tables, jnp.int32(epoch))
        out = {k: np.asarray(v) for k, v in out.items()}       # waits for the epoch to finish
        for i, history in enumerate(histories):
            for key, values in out.items():
                if key.startswith("val_") and prepared[i].val is None:
                    continue
                history.setdefault(key, []).append(float(values[i]))
        seconds = time.perf_counter() - t0
        epoch_seconds.append(seconds)
        if epoch == start:
            compile_seconds = seconds            # the first call compiles (or reads the compilation cache)
        train_seconds += seconds
        if bar is not None:
            bar.update()
            bar.set_postfix(loss=f"{np.mean(out['loss']):.3f}")
        last = epoch + 1 == epochs
        due = (last or (checkpoint_every == "auto" and time.perf_counter() - last_save >= 10 * save_cost)
               or (checkpoint_every != "auto" and (epoch + 1) % checkpoint_every == 0))
        if path is not None and due:
            t1 = time.perf_counter()
            _save(path, state, {"epoch": epoch + 1, "histories": histories, "fingerprints": fingerprints,
                                "initial_losses": initial_losses, "precision": policy,
                                "runs": [p.label for p in prepared]})
            last_save = time.perf_counter()
            save_cost = last_save - t1
            checkpoint_seconds += save_cost
    if bar is not None:
        bar.close()
    # after training: the returned weights, the predictions on the training clips (collapse) and those asked for
    fit_probs = program.predict(state, pool_device, [p.fit for p in prepared], pool_labels, final=True)
    pred_probs = program.predict(state, pool_device, [p.pred for p in prepared], pool_labels, final=True) if any(
        p.pred is not None for p in prepared) else [None] * len(prepared)
    tv, ntv = program.final_weights(state)
    best = np.asarray(state["best_epoch"]) if program.restore else None
    tv = [np.array(a) for a in tv]
    ntv = [np.array(a) for a in ntv]
    batch_note = (f"trained in a batch of {len(prepared)} runs (one compiled program, Keras {_keras_version()} on "
                  f"JAX {jax.__version__}), {why}; the first epoch, with compilation, took {compile_seconds:.1f} s")
    results = []
    for i, p in enumerate(prepared):
        best_epoch = int(best[i]) if p.recipe.restore_best else epochs     # 0: no epoch improved (as train)
        found = []
        ln_k = math.log(n_classes)
        if abs(initial_losses[i] - ln_k) > 0.1 * ln_k:
            found.append(f"the loss at initialisation, {initial_losses[i]:.3f}, is not within 10% of "
                         f"ln {n_classes} = {ln_k:.3f}: the untrained model is not predicting uniformly")
        found += diagnostics.detect_collapse(histories[i], n_classes, np.argmax(fit_probs[i], axis=1))
        absent = [c for c in range(n_classes) if not np.any(np.asarray(p.fit_labels) == c)]
        data_warnings = [] if not absent else [
            f"class{'es' if len(absent) > 1 else ''} {', '.join(map(str, absent))} of {n_classes} "
            f"ha{'ve' if len(absent) > 1 else 's'} no clip in the training data: the model cannot learn to predict it"]
        model = None
        if keep_models:
            model = models[i]
            for var, value in zip(model.trainable_variables, tv):
                var.assign(value[i])
            for var, value in zip(model.non_trainable_variables, ntv):
                var.assign(value[i])
            compile_with_recipe(model, p.recipe, math.ceil(len(p.fit) / batch_size), epochs,
                                named[i].learning_rate, jit_compile=True)
        results.append(TrainResult(model=model, history=histories[i], epochs=epochs, resumed_from=start,
                                   device=device, shortened=shortened, notes=notes + [batch_note],
                                   initial_loss=initial_losses[i], best_epoch=best_epoch, warnings=found,
                                   recipe=p.recipe, checkpoint_seconds=checkpoint_seconds,
                                   train_seconds=train_seconds, trainer="batched", precision=policy,
                                   batch_runs=len(prepared), predictions=pred_probs[i], data_warnings=data_warnings,
                                   epoch_seconds=list(epoch_seconds)))
    del state, program, pool_device, models, template
    return results


def _keras_version():
    import keras

    return keras.__version__
