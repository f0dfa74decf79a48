"""Training with Keras: two recipes, repeatable seeds, diagnostics, cheap checkpoints and resumption.

Two recipes (:data:`RECIPES`):

- ``"paper"``: what the paper says, exactly. Categorical cross-entropy, "the
  default learning rate scheduling" (Adam at Keras' default rate 1e-3 is
  assumed), 100 epochs, batches of 8, the last epoch's weights.
- ``"stable"``: the library's recommendation, built from what the diagnosis of
  chapter 10 and ``benchmarks/bench_training.py`` measured (its results are in
  ``benchmarks/results/``). With the paper's recipe the hidden Dense layers of
  the two-stream network read 35,280 and 70,560 features that are all
  non-negative (ReLU, then max pooling); Adam moves every weight of a unit by
  about the learning rate in the *same* direction, so one step moves the
  unit's input by about ``lr * fan_in * mean(feature)`` for every clip alike.
  Measured over the first epoch: the loss climbs from about ln 3 to 11-16 and
  72-90% of the hidden units die (negative for every clip, never to recover),
  which is how a run collapses to one class. The stable recipe starts from
  uniform predictions (a zero-initialised softmax layer: the loss at
  initialisation is exactly ln K), warms the learning rate up to 3e-4 and
  decays it along a cosine (no loss spike), centres the flattened features
  (batch normalisation after each Flatten: no dead units after the first
  epoch), and regularises a network of 13.5 M parameters trained on about a
  hundred clips: augmentation that respects the physics of flow
  (:func:`flip_horizontal` negates the horizontal flow; the training loss no
  longer goes to zero), AdamW weight decay, label smoothing and balanced
  class weights. Picking the epoch on an inner validation set was measured to
  hurt (it stops within the first epochs), so the recipe trains to the end of
  its schedule; ``Recipe(restore_best=True)`` is there for a larger dataset.

:func:`train` adds what a course needs:

- seeds that make a CPU run repeatable (each epoch's shuffling and
  augmentation derived from the seed and the epoch number, so they do not
  depend on resumption);
- diagnostics: the loss at initialisation against ln K, and a
  :class:`CollapseWarning` when a run collapses (see
  :func:`mer_lib.diagnostics.detect_collapse`);
- checkpoints written cheaply: the model's and the optimiser's variables in
  one uncompressed ``.npz``, by default only as often as keeps their cost
  under a tenth of the training time (``checkpoint_every="auto"``), always
  after the last epoch; calling :func:`train` again with the same
  ``checkpoint_dir`` continues after the last checkpointed epoch and ends with
  the weights an uninterrupted run would have. A checkpoint is identified by a
  fingerprint of the training data, the model, the recipe, the batch size and
  the seed: another run's checkpoint is an error, never resumed;
- on a GPU: mixed precision (layers that need float32, the softmax and the
  LSTM, keep it) and XLA compilation; several GPUs with TensorFlow: a
  ``tf.distribute.MirroredStrategy``;
- on a machine without a GPU: a clear message, and a shortened run when the
  caller asks for one (``cpu_epochs``).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# recipes, augmentation, checkpoints: modules of their own, importable from here (where a test may replace them)
from mer_lib.augment import augment, augmentation_draws, epoch_augmentation, epoch_order, flip_horizontal
from mer_lib.checkpoints import _load_checkpoint, _model_signature, _read_state, _save_checkpoint, data_fingerprint
from mer_lib.env import gpu_names, seed_keras, tensorflow_log_level
from mer_lib.epochs import _length, _subset, epoch_by_batches
from mer_lib.errors import UserInputError
from mer_lib.recipes import CONTROL_RECIPES, RECIPES, Recipe, compile_with_recipe, get_recipe, learning_rate_schedule

__all__ = ["train", "TrainResult", "Recipe", "RECIPES", "CONTROL_RECIPES", "get_recipe", "compile_with_recipe",
           "class_weights", "set_seeds", "release_training_memory", "learning_rate_schedule", "epoch_order",
           "epoch_augmentation", "augmentation_draws", "flip_horizontal", "augment", "CollapseWarning", "DataWarning",
           "DeviceNotice",
           "data_fingerprint"]


class CollapseWarning(UserWarning):
    """A training run collapsed (one class for every clip, or a loss above ln K)."""


class DataWarning(UserWarning):
    """The training data lack something a score needs (a class with no clip); recorded with the run."""


class DeviceNotice(UserWarning):
    """Training runs on the CPU (and may be shortened): said once per message, as Python shows a warning.

    Python's warning filters decide how often it is shown (by default once
    per distinct message); ``warnings.simplefilter("always", DeviceNotice)``
    shows it at every call, ``"ignore"`` never.
    """


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : keras.Model
    history : dict of list
        Per-epoch ``loss``, ``accuracy``, ``learning_rate`` and, with
        validation data, ``val_loss`` and ``val_accuracy`` (resumed runs
        included).
    epochs : int
        Epochs trained in all (the target, possibly shortened).
    resumed_from : int
        The epoch a resumed run started from (0 for a fresh run).
    device : str
        "GPU: <names>" or "CPU".
    shortened : bool
        Whether the run was shortened because there is no GPU.
    notes : list of str
    initial_loss : float
        Training loss of the untrained model (ln K for uniform predictions).
    best_epoch : int
        The epoch whose weights are returned (1-based).
    warnings : list of str
        What :func:`mer_lib.diagnostics.detect_collapse` found (empty: healthy).
    recipe : Recipe
    checkpoint_seconds : float
        Time spent writing checkpoints in this call.
    train_seconds : float
        Time spent in the epochs of this call (checkpoints excluded); shared
        by the runs of a batch (:func:`mer_lib.batched.train_many`).
    data_warnings : list of str
        What is wrong with the training data rather than the run (a class
        with no clip in it); also warned as :class:`DataWarning`.
    trainer, precision, batch_runs : str, str, int
        "keras fit" (Keras' loop) or "batched" (:mod:`mer_lib.batched`); the
        Keras dtype policy trained under; the runs trained in one program.
    predictions : ndarray of shape (M, n_classes), optional
        Probabilities for the clips a batched run was asked to predict.
    epoch_seconds : list of float
        Each epoch's wall time (checkpoints excluded; the first compiles).
    """

    model: object
    history: dict
    epochs: int
    resumed_from: int = 0
    device: str = "CPU"
    shortened: bool = False
    notes: list = field(default_factory=list)
    initial_loss: float = float("nan")
    best_epoch: int = 0
    warnings: list = field(default_factory=list)
    recipe: Recipe | None = None
    checkpoint_seconds: float = 0.0
    train_seconds: float = 0.0
    data_warnings: list = field(default_factory=list)
    trainer: str = "keras fit"
    precision: str = "float32"
    batch_runs: int = 1
    predictions: object = None
    epoch_seconds: list = field(default_factory=list)


def set_seeds(seed):
    """Seed Python, NumPy and the Keras backend, and make TensorFlow's ops deterministic, for the process.

    Both stay set after the call (that is what a notebook cell asking for
    repeatable runs wants); :func:`train` uses :func:`_deterministic` instead,
    which restores the previous state when training ends.

    Parameters
    ----------
    seed : int
    """
    seed_keras(seed)
    _set_op_determinism(True)


def _op_determinism():
    """TensorFlow's op-determinism switch as (is_enabled, set(bool)); None without TensorFlow."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    try:
        from tensorflow.python.framework import config as tf_config
    except ImportError:       # pragma: no cover (a TensorFlow without the switch's query)
        return None

    def set_(on):
        (tf.config.experimental.enable_op_determinism if on else tf_config.disable_op_determinism)()

    return tf_config.is_op_determinism_enabled(), set_


def _set_op_determinism(on):
    switch = _op_determinism()
    if switch is not None:
        switch[1](on)


@contextlib.contextmanager
def _deterministic(seed):
    """Seeded, with deterministic TensorFlow ops within the block.

    Restored after: the op-determinism switch, and the global random states
    of Python and NumPy (a notebook's own ``np.random`` draws after training
    do not depend on the training's seed). The Keras backend's seed stays set,
    as :func:`keras.utils.set_random_seed` leaves it (:func:`seed_keras`).
    """
    import random

    python_state, numpy_state = random.getstate(), np.random.get_state()
    switch = _op_determinism()
    was = None if switch is None else switch[0]
    seed_keras(seed)
    if switch is not None:
        switch[1](True)
    try:
        yield
    finally:
        if switch is not None:
            switch[1](was)
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def class_weights(labels, n_classes=None):
    """Balanced class weights ``n / (K * n_c)``, as a dict for Keras.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    n_classes : int, optional
        K; by default the largest label plus one.

    Returns
    -------
    dict of int to float
        A class with no clip among ``labels`` gets the weight 0.0 (no clip of
        it is weighted); :func:`train` says so when its training data lack a
        class.

    Examples
    --------
    >>> class_weights([0, 0, 0, 1], 3)
    {0: 0.4444444444444444, 1: 1.3333333333333333, 2: 0.0}
    """
    labels = np.asarray(labels, dtype=int)
    k = int(labels.max() + 1) if n_classes is None else int(n_classes)
    counts = np.bincount(labels, minlength=k)
    return {c: (float(len(labels) / (k * counts[c])) if counts[c] else 0.0) for c in range(k)}


def _current_lr(model):
    opt = model.optimizer
    lr = opt.learning_rate
    return float(np.asarray(lr))


def train(build_model, inputs, labels, *, recipe="paper", n_classes=3, epochs=100, batch_size=8, seed=0,
          class_weight=None, validation=None, groups=None, checkpoint_dir=None, checkpoint_every="auto",
          learning_rate=None, cpu_epochs=None, verbose=1, mixed_precision="auto", jit_compile="auto",
          trainer="auto"):
    """Train a model with a recipe, repeatably and resumably, and check that it learns.

    Parameters
    ----------
    build_model : callable
        ``build_model() -> keras.Model`` (uncompiled), e.g.
        ``lambda: two_stream("paper")``. It is called after the precision
        policy is set and inside the distribution strategy. Build it with the
        recipe's ``normalization`` (:func:`mer_lib.experiments.build` does).
    inputs : ndarray or dict of ndarray
        The model's inputs, N examples first (``NetworkInputs.as_dict()``
        for the two-stream network).
    labels : array_like of int, shape (N,)
        Class indices.
    recipe : {"paper", "stable"} or Recipe, default "paper"
    n_classes : int, default 3
    epochs : int, default 100
        The paper's.
    batch_size : int, default 8
        The paper's.
    seed : int
    class_weight : None, "balanced" or dict, optional
        Overrides the recipe's.
    validation : tuple (inputs, labels), optional
        Monitored each epoch (and used to pick the epoch when the recipe
        restores the best one). When omitted and the recipe restores the best
        epoch, a validation set is carved out of ``inputs``: a stratified
        ``recipe.validation_fraction`` of the clips, or whole groups when
        ``groups`` is given. Never pass the test set here.
    groups : array_like, shape (N,), optional
        The subject of each clip, for a subject-disjoint validation set.
    checkpoint_dir : str or Path, optional
        Where to checkpoint and resume from.
    checkpoint_every : "auto" or int
        "auto": after an epoch only when the time since the last checkpoint
        is at least ten times what writing one took (so checkpoints cost at
        most about a tenth of the training), and always after the last epoch;
        an int k: after every k-th epoch and the last.
    learning_rate : float, optional
        Overrides the recipe's.
    cpu_epochs : int, optional
        On a machine without a GPU, train at most this many epochs and say so.
    verbose : int
        Keras' progress display (1: a progress bar per epoch).
    mixed_precision, jit_compile : "auto" or bool
        "auto": on with a GPU, off on a CPU (for ``mixed_precision``: unless the recipe's ``precision``
        says otherwise; ``jit_compile`` is on with JAX whatever the device: Keras' JAX loop without it
        compiles each operation on its own: two tiny folds of the flow stream alone on a CPU took
        23 s that way, 15 s with the step compiled whole, compilation included). Keras' loop uses
        float16; the batched trainer bfloat16 where the GPU has it
        (:func:`mer_lib.batched.precision_for_device`), and always compiles.
    trainer : {"auto", "fit", "batched"}
        "fit": Keras' own compiled step, called once per batch (``model.train_on_batch``; ``model.fit``
        with several GPUs), on any backend. "batched":
        :func:`mer_lib.batched.train_many` with this one run, on JAX only (one compiled program per
        epoch, the clips on the device). "auto": ``MER_TRAINER`` when set, else "batched" on JAX and
        "fit" otherwise (TensorFlow, Colab's default). Both end with the same weights (a test checks it).

    Returns
    -------
    TrainResult

    Warns
    -----
    CollapseWarning
        When the run collapsed (the trained model predicts one class for every
        training clip, or its training loss stayed above ln K).
    """
    import keras

    recipe = get_recipe(recipe)
    labels = np.asarray(labels)
    n = _length(inputs)
    if labels.ndim != 1 or len(labels) != n or n == 0:
        raise UserInputError(f"labels ({labels.shape}) must be 1-D, match the number of examples ({n}), and not be "
                             "empty")
    if not np.issubdtype(labels.dtype, np.integer):
        raise UserInputError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 1:
        raise UserInputError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise UserInputError(f"labels must be class indices in 0 .. {n_classes - 1}")
    if checkpoint_every != "auto" and (not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1):
        raise UserInputError(f"checkpoint_every must be 'auto' or a positive integer, got {checkpoint_every!r}")
    if groups is not None and len(groups) != n:
        raise UserInputError(f"groups ({len(groups)}) must match the number of examples ({n})")
    if cpu_epochs is not None and (not isinstance(cpu_epochs, (int, np.integer)) or cpu_epochs < 1):
        raise UserInputError(f"cpu_epochs must be a positive integer, got {cpu_epochs!r}")
    if len(np.unique(labels)) < 2:
        raise UserInputError(f"the training data hold clips of one class only (class {int(labels[0])}): there is "
                             "nothing to tell apart, and a score would mean nothing")
    if trainer not in ("auto", "fit", "batched"):
        raise UserInputError(f"trainer must be 'auto', 'fit' or 'batched', got {trainer!r}")
    if trainer == "auto" and os.environ.get("MER_TRAINER"):
        trainer = os.environ["MER_TRAINER"]
        if trainer not in ("fit", "batched"):
            raise UserInputError(f"the environment variable MER_TRAINER must be 'fit' or 'batched', got {trainer!r}")
    if trainer == "batched" or (trainer == "auto" and keras.backend.backend() == "jax"):
        from mer_lib.batched import Run, train_many

        return train_many(build_model, [Run(inputs, labels, seed=int(seed), recipe=recipe, validation=validation,
                                             groups=groups, learning_rate=learning_rate,
                                             class_weight=class_weight)],
                          n_classes=n_classes, epochs=epochs, batch_size=batch_size, checkpoint_dir=checkpoint_dir,
                          checkpoint_every=checkpoint_every, cpu_epochs=cpu_epochs, mixed_precision=mixed_precision,
                          verbose=verbose)[0]
    gpus = gpu_names()
    device = f"GPU: {', '.join(gpus)}" if gpus else "CPU"
    notes = []
    shortened = False
    if not gpus:
        notes.append("No GPU found: training on the CPU, which is much slower "
                     "(in Colab: Runtime > Change runtime type > GPU).")
        if cpu_epochs is not None and cpu_epochs < epochs:
            notes.append(f"Shortened run on the CPU: {cpu_epochs} epochs instead of {epochs}.")
            epochs, shortened = int(cpu_epochs), True
    for note in notes:
        # a warning, not a print: Python's filters show each message once per session, not once per fold
        warnings.warn(note, DeviceNotice, stacklevel=1)

    fit_inputs, fit_labels = inputs, labels
    if validation is None and recipe.restore_best:
        from mer_lib.splits import validation_split

        if groups is not None and len(np.unique(groups)) < 2:
            raise UserInputError("the recipe holds out whole subjects for validation: the training data need at "
                                 f"least 2 subjects (groups), got {len(np.unique(groups))}")
        fit_idx, val_idx = validation_split(np.arange(n), labels, subjects=groups,
                                            fraction=recipe.validation_fraction, seed=seed)
        if len(fit_idx) == 0 or len(val_idx) == 0:
            raise UserInputError(f"{n} clips are too few to hold out a validation set of "
                                 f"{recipe.validation_fraction:.0%}")
        validation = (_subset(inputs, val_idx), labels[val_idx])
        fit_inputs, fit_labels = _subset(inputs, fit_idx), labels[fit_idx]
    data_warnings = []
    absent = [c for c in range(n_classes) if not np.any(fit_labels == c)]
    if absent:
        data_warnings.append(f"class{'es' if len(absent) > 1 else ''} {', '.join(map(str, absent))} of "
                             f"{n_classes} ha{'ve' if len(absent) > 1 else 's'} no clip in the training data: the "
                             "model cannot learn to predict it")
        warnings.warn(data_warnings[-1], DataWarning, stacklevel=2)
    if class_weight is None:
        class_weight = recipe.class_weight
    if class_weight == "balanced":
        class_weight = class_weights(fit_labels, n_classes)
    val = None
    if validation is not None:
        val = (validation[0], keras.utils.to_categorical(np.asarray(validation[1], dtype=int), n_classes))

    if mixed_precision == "auto":
        use_mixed = bool(gpus) if recipe.precision == "auto" else recipe.precision == "mixed_float16"
    else:
        use_mixed = bool(mixed_precision)
    run = _Run(build_model=build_model, recipe=recipe, inputs=inputs, labels=labels, groups=groups,
               fit_inputs=fit_inputs, fit_labels=fit_labels, validation=val, n_classes=n_classes, epochs=int(epochs),
               batch_size=int(batch_size), seed=seed, class_weight=class_weight, checkpoint_dir=checkpoint_dir,
               checkpoint_every=checkpoint_every, learning_rate=learning_rate, verbose=verbose,
               jit_compile=(bool(gpus) or keras.backend.backend() == "jax") if jit_compile == "auto" else bool(
                   jit_compile), gpus=gpus, device=device,
               shortened=shortened, notes=notes, data_warnings=data_warnings)
    release_training_memory()       # what earlier trainings left in Keras' and TensorFlow's global state
    # what this call sets for the process is set back when it ends, whatever the way it ends
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    try:
        with tensorflow_log_level("ERROR"):     # retracing notices between folds are expected here
            return _train(run)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


@dataclass
class _Run:
    """What one call of :func:`train` trains: the checked arguments, grouped for :func:`_train`."""

    build_model: object
    recipe: Recipe
    inputs: object               # every training clip (the checkpoint's fingerprint is of these)
    labels: np.ndarray
    groups: object
    fit_inputs: object           # the clips the model is fitted on (without a carved-out validation set)
    fit_labels: np.ndarray
    validation: tuple | None     # (inputs, one-hot labels)
    n_classes: int
    epochs: int
    batch_size: int
    seed: int
    class_weight: object
    checkpoint_dir: object
    checkpoint_every: object
    learning_rate: float | None
    verbose: int
    jit_compile: bool
    gpus: list
    device: str
    shortened: bool
    notes: list
    data_warnings: list

    @property
    def n_fit(self):
        return len(self.fit_labels)


def _train(run):
    import keras

    from mer_lib import diagnostics
    from mer_lib.models import predict

    strategy = None
    if len(run.gpus) > 1 and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        run.notes.append(f"{len(run.gpus)} GPUs: MirroredStrategy")
    scope = strategy.scope() if strategy else contextlib.nullcontext()
    recipe, epochs, seed, n_fit = run.recipe, run.epochs, run.seed, run.n_fit
    steps = math.ceil(n_fit / run.batch_size)
    y = keras.utils.to_categorical(run.fit_labels, run.n_classes)
    with _deterministic(seed):
        with scope:
            model = compile_with_recipe(run.build_model(), recipe, steps, epochs, run.learning_rate, run.jit_compile)
            if recipe.zero_head:
                head = model.layers[-1]
                head.kernel.assign(np.zeros(head.kernel.shape, dtype=head.kernel.dtype))
        fingerprint = {"data": data_fingerprint(run.inputs, run.labels, run.groups), "model": _model_signature(model),
                       "recipe": recipe.as_dict(), "batch_size": run.batch_size, "seed": int(seed),
                       "n_classes": int(run.n_classes),
                       "learning_rate": None if run.learning_rate is None else float(run.learning_rate)}
        if recipe.schedule == "cosine":
            fingerprint["epochs"] = int(epochs)        # the schedule's length is part of the run
        ckpt = Path(run.checkpoint_dir) if run.checkpoint_dir is not None else None
        start, history, best_epoch, best_weights, best_loss = 0, {}, 0, None, np.inf
        state = _read_state(ckpt) if ckpt is not None else None
        if state is not None:
            saved = state["fingerprint"]
            differs = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
            if differs:
                raise UserInputError(
                    f"the checkpoint in {str(ckpt)!r} was made by another run (different {', '.join(differs)}: "
                    f"{[saved.get(k) for k in differs]} there, {[fingerprint.get(k) for k in differs]} here); use "
                    "another checkpoint folder")
            if int(state["epoch"]) > epochs:
                raise UserInputError(
                    f"the checkpoint in {str(ckpt)!r} holds {state['epoch']} epochs, more than the {epochs} asked "
                    "for: use another checkpoint folder (the longer run is kept)")
            start, history = int(state["epoch"]), state["history"]
            best_epoch, best_loss = int(state.get("best_epoch", 0)), float(state.get("best_loss", np.inf))
            best_weights = _load_checkpoint(model, ckpt / state["file"], state)
            initial_loss = float(state["initial_loss"])
            if start < epochs:
                print(f"Resuming from the checkpoint in {ckpt} after epoch {start} of {epochs}.")
        else:
            initial_loss = diagnostics.initial_loss(model, run.fit_inputs, run.fit_labels, run.n_classes)
        ln_k = math.log(run.n_classes)
        result_warnings = []
        if abs(initial_loss - ln_k) > 0.1 * ln_k:
            result_warnings.append(f"the loss at initialisation, {initial_loss:.3f}, is not within 10% of "
                                   f"ln {run.n_classes} = {ln_k:.3f}: the untrained model is not predicting uniformly")
        last_save = time.perf_counter()
        save_cost = 0.0
        checkpoint_seconds = train_seconds = 0.0
        epoch_seconds = []
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            # the shuffling of each epoch depends only on (seed, epoch): a resumed run sees the same batches
            order = epoch_order(seed, epoch, n_fit)
            x_epoch = _subset(run.fit_inputs, order)
            if recipe.augment:
                x_epoch = augment(x_epoch, np.random.default_rng([int(seed), epoch, 1]), recipe.shift)
            lr = _current_lr(model)
            if strategy is None:
                logs = epoch_by_batches(model, x_epoch, y[order], run, epoch)
            else:                 # several GPUs: Keras' fit distributes the batches
                logs = {k: v[-1] for k, v in model.fit(
                    x_epoch, y[order], batch_size=run.batch_size, epochs=epoch + 1, initial_epoch=epoch,
                    shuffle=False, class_weight=run.class_weight, validation_data=run.validation,
                    verbose=run.verbose).history.items()}
            for key, value in logs.items():
                if key != "learning_rate":
                    history.setdefault(key, []).append(float(value))
            history.setdefault("learning_rate", []).append(lr)
            if recipe.restore_best and history["val_loss"][-1] < best_loss:
                best_loss, best_epoch = history["val_loss"][-1], epoch + 1
                best_weights = [np.array(w) for w in model.get_weights()]
            epoch_seconds.append(time.perf_counter() - t0)
            train_seconds += epoch_seconds[-1]
            last = epoch + 1 == epochs
            every = run.checkpoint_every
            due = (last or (every == "auto" and time.perf_counter() - last_save >= 10 * save_cost)
                   or (every != "auto" and (epoch + 1) % every == 0))
            if ckpt is not None and due:
                t1 = time.perf_counter()
                _save_checkpoint(model, ckpt, epoch + 1, history, fingerprint,
                                 dict(initial_loss=initial_loss, best_epoch=best_epoch, best_loss=best_loss),
                                 best_weights)
                last_save = time.perf_counter()
                save_cost = last_save - t1
                checkpoint_seconds += save_cost
        if not recipe.restore_best:
            best_epoch = epochs
        elif best_weights is not None and best_epoch != epochs:
            model.set_weights(best_weights)
        train_pred = np.argmax(predict(model, run.fit_inputs), axis=1)
    result_warnings += diagnostics.detect_collapse(history, run.n_classes, train_pred)
    for message in result_warnings:
        warnings.warn(message, CollapseWarning, stacklevel=3)
    return TrainResult(model, history, epochs, start, run.device, run.shortened, run.notes, initial_loss, best_epoch,
                       result_warnings, recipe, checkpoint_seconds, train_seconds, run.data_warnings,
                       trainer="keras fit", precision=keras.mixed_precision.global_policy().name,
                       epoch_seconds=epoch_seconds)


def release_training_memory():
    """Release what finished trainings left in Keras' and its backend's global state.

    Keras keeps a global state (layer names, the functional API's
    bookkeeping) and TensorFlow caches kernels and graphs for every model a
    process builds: without this, each in-process training of a plan kept about 180 MB (issue 21). Calls
    ``keras.backend.clear_session()`` and the garbage collector (:func:`mer_lib.env.collect_garbage`: a full
    collection one call in 25), keeping the global precision policy (which ``clear_session`` would reset). Models
    still referenced keep working; :func:`train` calls it before each training, the experiments' runner after each
    fold.
    """
    import keras

    from mer_lib.env import collect_garbage

    policy = keras.mixed_precision.global_policy()
    keras.backend.clear_session(free_memory=False)
    collect_garbage()
    keras.mixed_precision.set_global_policy(policy)
