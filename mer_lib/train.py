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
import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_lib.data.prepare import atomic_write, atomic_write_text
from mer_lib.env import gpu_names
from mer_lib.errors import UserInputError

__all__ = ["train", "TrainResult", "Recipe", "RECIPES", "get_recipe", "compile_with_recipe", "class_weights",
           "set_seeds", "release_training_memory", "learning_rate_schedule", "epoch_order", "epoch_augmentation", "augmentation_draws",
           "flip_horizontal", "augment", "CollapseWarning", "DeviceNotice", "data_fingerprint"]

class CollapseWarning(UserWarning):
    """A training run collapsed (one class for every clip, or a loss above ln K)."""


class DeviceNotice(UserWarning):
    """Training runs on the CPU (and may be shortened): said once per message, as Python shows a warning.

    Python's warning filters decide how often it is shown (by default once
    per distinct message); ``warnings.simplefilter("always", DeviceNotice)``
    shows it at every call, ``"ignore"`` never.
    """


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: optimiser, schedule, regularisation, model-side normalisation.

    Attributes
    ----------
    name : str
    learning_rate : float
        Peak learning rate.
    schedule : {"constant", "cosine"}
        "cosine": a linear warm-up over ``warmup_epochs``, then a cosine decay
        to zero at the last epoch.
    warmup_epochs : int
    weight_decay : float
        Decoupled weight decay (AdamW); 0 gives Adam.
    label_smoothing : float
    class_weight : None or "balanced"
    augment : bool
        Random horizontal flips (flow's horizontal component negated) and
        shifts of up to ``shift`` pixels, drawn anew every epoch.
    shift : int
    normalization : None, "batch" or "layer"
        A normalisation layer after each Flatten (passed to the model builder
        by :func:`mer_lib.experiments.build`).
    zero_head : bool
        Zero-initialise the softmax layer: uniform predictions at the start,
        a loss of exactly ln K.
    validation_fraction : float
        With ``restore_best``: the share of the training data held out (whole
        groups when groups are given) to pick the epoch.
    restore_best : bool
        Return the weights of the epoch with the lowest validation loss.
    """

    name: str
    learning_rate: float = 1e-3
    schedule: str = "constant"
    warmup_epochs: int = 0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    class_weight: str | None = None
    augment: bool = False
    shift: int = 0
    normalization: str | None = None
    zero_head: bool = False
    validation_fraction: float = 0.0
    restore_best: bool = False

    def __post_init__(self):
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"Recipe.schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if self.normalization not in (None, "batch", "layer"):
            raise ValueError(f"Recipe.normalization must be None, 'batch' or 'layer', got {self.normalization!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"Recipe.class_weight must be None or 'balanced', got {self.class_weight!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"Recipe.learning_rate must be positive, got {self.learning_rate!r}")
        if self.restore_best and not 0 < self.validation_fraction < 1:
            raise ValueError("Recipe.restore_best needs a validation_fraction in (0, 1)")

    def as_dict(self):
        """The recipe's fields as a plain dict (for JSON files)."""
        return dataclasses.asdict(self)


#: The recipes by name. "paper" is the paper's; "stable" is the library's recommendation.
RECIPES = {
    "paper": Recipe("paper"),
    "stable": Recipe("stable", learning_rate=3e-4, schedule="cosine", warmup_epochs=5, weight_decay=1e-2,
                     label_smoothing=0.1, class_weight="balanced", augment=True, shift=4, normalization="batch",
                     zero_head=True),
}


def get_recipe(recipe):
    """A :class:`Recipe` from itself or its name in :data:`RECIPES`.

    Parameters
    ----------
    recipe : str or Recipe

    Returns
    -------
    Recipe
    """
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be a Recipe or one of {tuple(RECIPES)}, got {recipe!r}")
    return RECIPES[recipe]


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
        Time spent in the epochs of this call (checkpoints excluded). A run
        trained in a batch (:func:`mer_lib.batched.train_many`) shares it with
        the other ``batch_runs - 1`` runs of its batch.
    trainer : str
        "keras fit" (Keras' own loop, one run) or "batched" (many runs in one
        compiled program on the JAX backend).
    precision : str
        The Keras dtype policy the run was trained under ("float32",
        "mixed_float16", "mixed_bfloat16").
    batch_runs : int
        Runs trained together in one program (1 for "keras fit").
    predictions : ndarray of shape (M, n_classes), optional
        Probabilities for the clips a batched run was asked to predict.
    epoch_seconds : list of float
        Wall time of each epoch of this call (checkpoints excluded); the
        first includes compilation.
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
    trainer: str = "keras fit"
    precision: str = "float32"
    batch_runs: int = 1
    predictions: object = None
    epoch_seconds: list = field(default_factory=list)


def set_seeds(seed):
    """Seed Python, NumPy and the Keras backend, and make TensorFlow's ops deterministic."""
    import keras

    keras.utils.set_random_seed(int(seed))
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except (AttributeError, RuntimeError):
            pass


def class_weights(labels, n_classes=None):
    """Balanced class weights ``n / (K * n_c)``, as a dict for Keras.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    n_classes : int, optional

    Returns
    -------
    dict of int to float
    """
    labels = np.asarray(labels, dtype=int)
    k = int(labels.max() + 1) if n_classes is None else int(n_classes)
    counts = np.bincount(labels, minlength=k)
    return {c: (len(labels) / (k * counts[c]) if counts[c] else 0.0) for c in range(k)}


def flip_horizontal(x, kind="frames"):
    """Mirror clips left-right, as the physics of each input requires.

    A mirrored face moves the mirrored way: the horizontal flow of a flipped
    clip is the flipped horizontal flow *negated*; the vertical flow is only
    flipped.

    Parameters
    ----------
    x : ndarray, shape (..., T, H, W, 1)
        Frames, or a flow stream input: its first half along T holds the
        horizontal maps u, the second half the vertical maps v (as
        :func:`mer_lib.pipeline.preprocess` stacks them).
    kind : {"frames", "flow"}

    Returns
    -------
    ndarray, the shape of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> flow = np.zeros((2, 1, 3, 1)); flow[0, 0, 0] = 1.0   # u = 1 at the left edge
    >>> flip_horizontal(flow, "flow")[0, 0, :, 0] == [0, 0, -1]   # now at the right edge, moving left
    array([ True,  True,  True])
    """
    x = np.asarray(x)
    if x.ndim < 4 or x.shape[-1] != 1:
        raise ValueError(f"x must have shape (..., T, H, W, 1), got {x.shape}")
    if kind not in ("frames", "flow"):
        raise ValueError(f"kind must be 'frames' or 'flow', got {kind!r}")
    out = x[..., ::-1, :].copy()
    if kind == "flow":
        t2 = x.shape[-4]
        if t2 % 2:
            raise ValueError(f"a flow input stacks T horizontal then T vertical maps: an even length, got {t2}")
        out[..., : t2 // 2, :, :, :] *= -1
    return out


def _shift(x, dy, dx):
    """Translate (T, H, W, 1) by whole pixels, repeating the edge."""
    h, w = x.shape[1:3]
    pad = ((0, 0), (max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)), (0, 0))
    padded = np.pad(x, pad, mode="edge")
    y0, x0 = max(-dy, 0), max(-dx, 0)
    return padded[:, y0:y0 + h, x0:x0 + w]


def augment(inputs, rng, shift=4):
    """A random horizontal flip (half the clips) and a random shift of each clip.

    The same flip and shift are applied to a clip's frames and its flow; the
    flow's horizontal component is negated when flipped (see
    :func:`flip_horizontal`). Inputs under the key ``"flow"`` are flow; any
    other key, or a plain array, is frames.

    Parameters
    ----------
    inputs : ndarray of shape (N, T, H, W, 1), or dict of such arrays
    rng : numpy.random.Generator
    shift : int
        Largest shift in pixels, each direction.

    Returns
    -------
    ndarray or dict, like ``inputs`` (new arrays)
    """
    as_dict = isinstance(inputs, dict)
    items = inputs if as_dict else {"frames": inputs}
    n = len(next(iter(items.values())))
    flips, moves = augmentation_draws(n, rng, shift)
    out = {}
    for key, x in items.items():
        kind = "flow" if key == "flow" else "frames"
        y = np.array(x, copy=True)
        if flips.any():
            y[flips] = flip_horizontal(y[flips], kind)
        for i in np.flatnonzero(moves.any(axis=1)):
            y[i] = _shift(y[i], int(moves[i, 0]), int(moves[i, 1]))
        out[key] = y
    return out if as_dict else out["frames"]


def augmentation_draws(n, rng, shift=4):
    """The random draws of :func:`augment`: which clips are flipped, and each clip's shift.

    Parameters
    ----------
    n : int
        Clips.
    rng : numpy.random.Generator
    shift : int
        Largest shift in pixels, each direction.

    Returns
    -------
    flips : ndarray of bool, shape (n,)
    moves : ndarray of int, shape (n, 2)
        (dy, dx) of each clip, in ``-shift .. shift``.
    """
    flips = rng.random(n) < 0.5
    moves = rng.integers(-shift, shift + 1, size=(n, 2)) if shift > 0 else np.zeros((n, 2), int)
    return flips, moves


def epoch_order(seed, epoch, n):
    """The order in which a run sees its ``n`` training clips in an epoch: a function of (seed, epoch) only.

    So a resumed run sees the same batches, and the batched trainer the same
    as :func:`train`.

    Returns
    -------
    ndarray of int, shape (n,)
    """
    return np.random.default_rng([int(seed), int(epoch)]).permutation(int(n))


def epoch_augmentation(seed, epoch, n, shift):
    """The flips and shifts of an epoch's clips (in the epoch's order), a function of (seed, epoch) only.

    Returns
    -------
    flips : ndarray of bool, shape (n,)
    moves : ndarray of int, shape (n, 2)
    """
    return augmentation_draws(int(n), np.random.default_rng([int(seed), int(epoch), 1]), shift)


def _subset(inputs, index):
    if isinstance(inputs, dict):
        return {k: v[index] for k, v in inputs.items()}
    return inputs[index]


def _length(inputs):
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


def data_fingerprint(inputs, labels, groups=None):
    """A short hash of the training data itself (every array's bytes, shapes and dtypes).

    Parameters
    ----------
    inputs : ndarray or dict of ndarray
    labels : array_like, shape (N,)
    groups : array_like, shape (N,), optional

    Returns
    -------
    str
        16 hexadecimal digits.
    """
    digest = hashlib.blake2b(digest_size=8)
    items = sorted(inputs.items()) if isinstance(inputs, dict) else [("x", inputs)]
    for key, value in items + [("labels", np.asarray(labels))] + (
            [("groups", np.asarray(groups).astype(str))] if groups is not None else []):
        value = np.ascontiguousarray(value)
        digest.update(f"{key}{value.shape}{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def _model_signature(model):
    """A hash of the model's architecture: each layer's class and weight shapes (not its automatic name)."""
    text = ";".join(f"{type(layer).__name__}:{[tuple(w.shape) for w in layer.weights]}" for layer in model.layers)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def compile_with_recipe(model, recipe="paper", steps_per_epoch=17, epochs=100, learning_rate=None,
                        jit_compile="auto"):
    """Compile a model with a recipe's optimiser, learning-rate schedule and loss.

    Parameters
    ----------
    model : keras.Model
    recipe : {"paper", "stable"} or Recipe
    steps_per_epoch, epochs : int
        The length of the learning-rate schedule.
    learning_rate : float, optional
        Overrides the recipe's.
    jit_compile : bool or "auto"

    Returns
    -------
    keras.Model
        The same model, compiled (accuracy as metric). The recipe's
        ``zero_head`` and ``normalization`` are not applied here (see
        :func:`train` and :func:`mer_lib.experiments.build`).
    """
    import keras

    recipe = get_recipe(recipe)
    lr = learning_rate_schedule(recipe, steps_per_epoch, epochs, learning_rate)
    if recipe.weight_decay > 0:
        optimizer = keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(lr)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=jit_compile)
    return model


def learning_rate_schedule(recipe, steps_per_epoch, epochs, learning_rate=None):
    """A recipe's learning rate: a float, or a Keras schedule of the optimiser step.

    Parameters
    ----------
    recipe : str or Recipe
    steps_per_epoch, epochs : int
    learning_rate : float, optional
        Overrides the recipe's peak rate.

    Returns
    -------
    float or keras.optimizers.schedules.CosineDecay
        "cosine": a linear warm-up from a tenth of the rate over the warm-up
        epochs (at most ``epochs - 1``), then a cosine decay to zero.
    """
    import keras

    recipe = get_recipe(recipe)
    lr = recipe.learning_rate if learning_rate is None else float(learning_rate)
    if recipe.schedule == "cosine":
        warmup = min(recipe.warmup_epochs, max(epochs - 1, 0)) * steps_per_epoch
        total = epochs * steps_per_epoch
        lr = keras.optimizers.schedules.CosineDecay(
            lr / 10 if warmup else lr, decay_steps=max(total - warmup, 1), alpha=0.0,
            warmup_target=lr if warmup else None, warmup_steps=warmup)
    return lr


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
        "auto": on with a GPU, off on a CPU. Keras' loop uses float16; the
        batched trainer bfloat16, where the GPU has it
        (:func:`mer_lib.batched.precision_for_device`), and always compiles.
    trainer : {"auto", "fit", "batched"}
        "fit": Keras' own loop (``model.fit``, one epoch per call), on any
        backend. "batched": :func:`mer_lib.batched.train_many` with this one
        run, on the JAX backend only (one compiled program per epoch, the
        clips on the device). "auto": the environment variable
        ``MER_TRAINER`` when it is set ("fit" or "batched"), else "batched"
        on the JAX backend and "fit" otherwise (TensorFlow, Colab's default).
        Both end with the same weights (a test checks it); the checkpoints of
        one cannot resume the other.

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

    from mer_lib import diagnostics

    recipe = get_recipe(recipe)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")   # retracing notices between folds are expected here
    labels = np.asarray(labels)
    n = _length(inputs)
    if labels.ndim != 1 or len(labels) != n or n == 0:
        raise ValueError(f"labels ({labels.shape}) must be 1-D, match the number of examples ({n}), and not be empty")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be class indices in 0 .. {n_classes - 1}")
    if checkpoint_every != "auto" and (not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every must be 'auto' or a positive integer, got {checkpoint_every!r}")
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups ({len(groups)}) must match the number of examples ({n})")
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
        from mer_lib.evaluate import validation_split

        if groups is not None and len(np.unique(groups)) < 2:
            raise ValueError("the recipe holds out whole subjects for validation: the training data need at least "
                             f"2 subjects (groups), got {len(np.unique(groups))}")
        fit_idx, val_idx = validation_split(np.arange(n), labels, subjects=groups,
                                            fraction=recipe.validation_fraction, seed=seed)
        if len(fit_idx) == 0 or len(val_idx) == 0:
            raise ValueError(f"{n} clips are too few to hold out a validation set of "
                             f"{recipe.validation_fraction:.0%}")
        validation = (_subset(inputs, val_idx), labels[val_idx])
        fit_inputs, fit_labels = _subset(inputs, fit_idx), labels[fit_idx]
    n_fit = len(fit_labels)
    if class_weight is None:
        class_weight = recipe.class_weight
    if class_weight == "balanced":
        class_weight = class_weights(fit_labels, n_classes)
    y = keras.utils.to_categorical(fit_labels, n_classes)
    val = None
    if validation is not None:
        val = (validation[0], keras.utils.to_categorical(np.asarray(validation[1], dtype=int), n_classes))

    use_mixed = bool(gpus) if mixed_precision == "auto" else bool(mixed_precision)
    use_xla = bool(gpus) if jit_compile == "auto" else bool(jit_compile)
    release_training_memory()       # what earlier trainings left in Keras' and TensorFlow's global state
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    try:
        return _train(keras, diagnostics, build_model, recipe, inputs, labels, groups, fit_inputs, y, fit_labels,
                      val, n_fit, n_classes, epochs, batch_size, seed, class_weight, checkpoint_dir,
                      checkpoint_every, learning_rate, verbose, use_xla, gpus, device, shortened, notes)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _train(keras, diagnostics, build_model, recipe, inputs, labels, groups, fit_inputs, y, fit_labels, val, n_fit,
           n_classes, epochs, batch_size, seed, class_weight, checkpoint_dir, checkpoint_every, learning_rate,
           verbose, use_xla, gpus, device, shortened, notes):
    strategy = None
    if len(gpus) > 1 and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        notes.append(f"{len(gpus)} GPUs: MirroredStrategy")
    scope = strategy.scope() if strategy else contextlib.nullcontext()
    steps = math.ceil(n_fit / batch_size)
    set_seeds(seed)
    with scope:
        model = compile_with_recipe(build_model(), recipe, steps, epochs, learning_rate, use_xla)
        if recipe.zero_head:
            head = model.layers[-1]
            head.kernel.assign(np.zeros(head.kernel.shape, dtype=head.kernel.dtype))
    fingerprint = {"data": data_fingerprint(inputs, labels, groups), "model": _model_signature(model),
                   "recipe": recipe.as_dict(), "batch_size": int(batch_size), "seed": int(seed),
                   "n_classes": int(n_classes),
                   "learning_rate": None if learning_rate is None else float(learning_rate)}
    if recipe.schedule == "cosine":
        fingerprint["epochs"] = int(epochs)        # the schedule's length is part of the run
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    start, history, best_epoch, best_weights, best_loss = 0, {}, 0, None, np.inf
    state = _read_state(ckpt) if ckpt is not None else None
    if state is not None:
        saved = state["fingerprint"]
        differs = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
        if differs:
            raise ValueError(f"the checkpoint in {str(ckpt)!r} was made by another run (different "
                             f"{', '.join(differs)}: {[saved.get(k) for k in differs]} there, "
                             f"{[fingerprint.get(k) for k in differs]} here); use another checkpoint_dir")
        if int(state["epoch"]) > epochs:
            raise ValueError(f"the checkpoint in {str(ckpt)!r} holds {state['epoch']} epochs, more than the {epochs} "
                             "asked for: use another checkpoint_dir (the longer run is kept)")
        start, history = int(state["epoch"]), state["history"]
        best_epoch, best_loss = int(state.get("best_epoch", 0)), float(state.get("best_loss", np.inf))
        best_weights = _load_checkpoint(model, ckpt / state["file"], state)
        initial_loss = float(state["initial_loss"])
        if start < epochs:
            print(f"Resuming from the checkpoint in {ckpt} after epoch {start} of {epochs}.")
    else:
        initial_loss = diagnostics.initial_loss(model, fit_inputs, fit_labels, n_classes)
    ln_k = math.log(n_classes)
    result_warnings = []
    if abs(initial_loss - ln_k) > 0.1 * ln_k:
        result_warnings.append(f"the loss at initialisation, {initial_loss:.3f}, is not within 10% of "
                               f"ln {n_classes} = {ln_k:.3f}: the untrained model is not predicting uniformly")
    last_save = time.perf_counter()
    save_cost = 0.0
    checkpoint_seconds = train_seconds = 0.0
    epoch_seconds = []
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        # the shuffling of each epoch depends only on (seed, epoch): a resumed run sees the same batches
        order = epoch_order(seed, epoch, n_fit)
        x_epoch = _subset(fit_inputs, order)
        if recipe.augment:
            x_epoch = augment(x_epoch, np.random.default_rng([int(seed), epoch, 1]), recipe.shift)
        lr = _current_lr(model)
        result = model.fit(x_epoch, y[order], batch_size=batch_size, epochs=epoch + 1, initial_epoch=epoch,
                           shuffle=False, class_weight=class_weight, validation_data=val, verbose=verbose)
        for key, values in result.history.items():
            if key != "learning_rate":
                history.setdefault(key, []).extend(float(v) for v in values)
        history.setdefault("learning_rate", []).append(lr)
        if recipe.restore_best and history["val_loss"][-1] < best_loss:
            best_loss, best_epoch = history["val_loss"][-1], epoch + 1
            best_weights = [np.array(w) for w in model.get_weights()]
        epoch_seconds.append(time.perf_counter() - t0)
        train_seconds += epoch_seconds[-1]
        last = epoch + 1 == epochs
        due = (last or (checkpoint_every == "auto" and time.perf_counter() - last_save >= 10 * save_cost)
               or (checkpoint_every != "auto" and (epoch + 1) % checkpoint_every == 0))
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
    train_pred = np.argmax(model.predict(fit_inputs, batch_size=64, verbose=0), axis=1)
    result_warnings += diagnostics.detect_collapse(history, n_classes, train_pred)
    for message in result_warnings:
        warnings.warn(message, CollapseWarning, stacklevel=3)
    return TrainResult(model, history, epochs, start, device, shortened, notes, initial_loss, best_epoch,
                       result_warnings, recipe, checkpoint_seconds, train_seconds, trainer="keras fit",
                       precision=keras.mixed_precision.global_policy().name, epoch_seconds=epoch_seconds)


def _read_state(folder):
    """The checkpoint's state, None when there is none; a one-line error naming a broken file."""
    path = folder / "state.json"
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
        for key in ("epoch", "file", "history", "fingerprint", "initial_loss", "paths"):
            state[key]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a checkpoint state this library wrote ({type(err).__name__}: {err}); "
                         "delete the folder to start again") from None
    if not (folder / state["file"]).is_file():
        raise ValueError(f"{path} points at {state['file']}, which is missing from {folder}; "
                         "delete the folder to start again")
    return state


def _variables(model):
    """The model's variables and its optimiser's, in a fixed order, with their paths."""
    model_vars = list(model.variables)
    opt_vars = list(model.optimizer.variables)
    return ([("model/" + v.path, v) for v in model_vars] + [("optimizer/" + v.path, v) for v in opt_vars])


def _save_checkpoint(model, folder, epoch, history, fingerprint, extra, best_weights=None):
    """Write the model's and the optimiser's variables as ``checkpoint-<epoch>.npz``, then point
    ``state.json`` at it. Both writes are atomic, and the state is written last, so a run killed at any
    moment leaves a consistent checkpoint (the previous one, or this one)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    named = _variables(model)
    arrays = {f"v{i:04d}": np.asarray(v.numpy() if hasattr(v, "numpy") else v) for i, (_, v) in enumerate(named)}
    if best_weights is not None:
        arrays.update({f"b{i:04d}": w for i, w in enumerate(best_weights)})
    name = f"checkpoint-{epoch:04d}.npz"
    atomic_write(folder / name, lambda f: np.savez(f, **arrays), suffix=".npz")
    state = {"epoch": epoch, "file": name, "history": history, "fingerprint": fingerprint,
             "paths": [p for p, _ in named], "has_best": best_weights is not None, **extra}
    atomic_write_text(folder / "state.json", json.dumps(state))
    for old in folder.glob("checkpoint-*.npz"):
        if old.name != name:
            old.unlink()


def _load_checkpoint(model, path, state):
    """Assign the saved variables to a freshly built and compiled model; return the best weights or None."""
    import zipfile

    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    named = _variables(model)
    if len(named) != len(state["paths"]):
        raise ValueError(f"the checkpoint {path} holds {len(state['paths'])} variables, this model and its "
                         f"optimiser {len(named)}: it was written by another model or library version")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        arrays = None
    if arrays is None or any(f"v{i:04d}" not in arrays for i in range(len(named))):
        raise ValueError(f"the checkpoint file {path} is unreadable or incomplete; delete its folder to start again")
    for i, (_, var) in enumerate(named):
        value = arrays[f"v{i:04d}"]
        if tuple(value.shape) != tuple(var.shape):
            raise ValueError(f"the checkpoint file {path} does not fit this model ({named[i][0]}: "
                             f"{value.shape} vs {tuple(var.shape)})")
        var.assign(value)
    if state.get("has_best"):
        return [arrays[f"b{i:04d}"] for i in range(len(model.get_weights()))]
    return None


def release_training_memory():
    """Release what finished trainings left in Keras' and its backend's global state.

    Keras keeps a global state (layer names, the functional API's
    bookkeeping) and TensorFlow caches kernels and graphs for every model a
    process builds: without this, each in-process training of a plan kept
    about 180 MB (issue 21). Calls ``keras.backend.clear_session()`` and the
    garbage collector, keeping the global precision policy (which
    ``clear_session`` would reset). Models still referenced keep working;
    :func:`train` calls it before each training, the experiments' runner after
    each fold.
    """
    import keras

    policy = keras.mixed_precision.global_policy()
    keras.backend.clear_session(free_memory=True)
    keras.mixed_precision.set_global_policy(policy)
