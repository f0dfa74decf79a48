"""Many training runs of one architecture at once, in one compiled program (Keras 3 on JAX).

One small run leaves a GPU idle: a step of the two-stream network on a batch
of 8 clips is a few GFLOP, microseconds of an H100's arithmetic, and the time
goes to launching kernels, Python between steps and copies. :func:`train_many`
trains N runs together instead. Their weights, optimiser states and
batch-normalisation statistics are stacked along a leading axis; one step
function, ``jax.vmap`` over Keras' stateless API (``model.stateless_call``
and ``optimizer.stateless_apply``), advances all of them; ``jax.lax.scan``
runs the steps of an epoch inside the compiled program; the clips stay on the
device and each step gathers its batch there.

Each run is trained exactly as :func:`mer_lib.train.train` trains it, and ends
with the same weights (up to floating-point rounding; a test checks it):

- its initial weights come from building the model after
  :func:`mer_lib.train.set_seeds` with the run's seed (and the recipe's zero
  head); its dropout draws come from the model's own seed generators, which
  are non-trainable variables that ``stateless_call`` advances, so they are
  the draws Keras' ``fit`` makes;
- each epoch's order of the clips and its flips and shifts come from the same
  NumPy generators, seeded with (seed, epoch), as in ``train``
  (:func:`mer_lib.train.epoch_order`, :func:`mer_lib.train.epoch_augmentation`):
  these small tables (a few integers per clip) are drawn on the host and
  uploaded each epoch, and the gathering, flipping and shifting of the clips
  happen on the device. Drawing them with ``jax.random`` instead would cost
  nothing measurable either, but would give other batches than ``train``;
- the loss (categorical cross-entropy, label smoothing, class weights, the
  batch's mean), the learning-rate schedule, AdamW's decoupled weight decay and
  Adam's update are Keras' own; the last, smaller batch of an epoch is a step
  of its own size, as in ``fit``;
- the histories (loss and accuracy as ``fit`` averages them, the learning rate
  at the start of each epoch, the validation loss and accuracy), the loss at
  initialisation, the best epoch on a validation set, collapse detection, and
  checkpoints from which the whole batch resumes exactly.

Runs of different training-set sizes (the folds of leave-one-subject-out)
share one program: a run with fewer steps in an epoch skips the steps it does
not have (its state passes through unchanged), and each distinct size of last
batch is one extra step shape. Nothing is padded inside a batch, so batch
normalisation sees exactly the clips ``fit`` would.

The recipe may differ between the runs of a batch (learning rate, schedule,
weight decay, label smoothing, class weights, augmentation, best epoch); the
architecture may not: it is one ``build_model``.

Why ``vmap``: one trace of one run's step gives one program whatever N is
(the compile time does not grow with N), and each layer's kernels do the work
of all N runs at once (a convolution of N runs becomes one grouped
convolution, a Dense layer a batched matrix product). A Python loop over the
runs inside one program would compile N copies of the step and launch N small
kernels per layer; separate processes (``reproduce(workers=...)``) pay N
runtimes and compete for the card. ``benchmarks/bench_training.py --part
speed`` measures the batched trainer against both.

On a CPU, JAX's default random-bit generator (the "partitionable" Threefry)
compiles the dropout of these networks' 5-D tensors very slowly (about 50 s
for one draw against 3 s on the machine the tests were written on); set
``JAX_THREEFRY_PARTITIONABLE=false`` before JAX starts (the tests, the
benchmark's CPU runs and ``tools/gpu_run.sh``'s rehearsal do). Both trainers
then draw from the same other generator, so they still agree.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["Run", "train_many", "forward_macs", "step_flops", "precision_for_device", "PEAK_FLOPS",
           "measure_stacking", "measure_stacking_in_subprocess"]

#: Dense tensor-core peak of some GPUs, FLOP/s, in bfloat16 (float16 for the T4, which has no bfloat16), from
#: NVIDIA's data sheets (H100 and H200: the SXM parts; without structured sparsity). What a card could do if
#: every cycle were a multiply-add of a large matrix product; real training reaches a fraction of it.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "T4": 65e12}

#: The name of a batch's checkpoint file inside ``checkpoint_dir``: one file per batch, replaced atomically.
CHECKPOINT_NAME = "batch-{index:03d}.npz"


@dataclass
class Run:
    """One training run of a batch: its data, its seed and its recipe.

    Give the training clips either as arrays (``inputs`` and ``labels``) or as
    rows (``index``) of the ``data`` shared by the batch
    (:func:`train_many`'s ``data``): sharing keeps one copy of the clips on
    the device for many runs.

    Attributes
    ----------
    inputs : ndarray or dict of ndarray, optional
        The training clips, ``(n, T, H, W, 1)`` (a dict for several inputs).
    labels : array_like of int, shape (n,), optional
    index : array_like of int, shape (n,), optional
        Rows of the shared ``data`` to train on (instead of inputs/labels).
    seed : int
        Initial weights, dropout, the order of the clips and augmentation.
    recipe : str or mer_lib.train.Recipe
    validation : tuple (inputs, labels) or array_like of int, optional
        Monitored every epoch (and used to pick the epoch when the recipe
        restores its best one); an array is rows of ``data``. When omitted
        and the recipe restores its best epoch, a validation set is carved out
        of the training clips as :func:`mer_lib.train.train` carves it.
    groups : array_like, shape (n,), optional
        The subject of each training clip (a subject-disjoint carve-out).
    learning_rate : float, optional
        Overrides the recipe's peak rate.
    class_weight : None, "balanced" or dict, optional
        Overrides the recipe's.
    predict : ndarray, dict of ndarray or array_like of int, optional
        Clips (or rows of ``data``) whose class probabilities the trained run
        returns in :attr:`mer_lib.train.TrainResult.predictions`.
    name : str, optional
        How messages and warnings name the run (default ``"run <i>"``).
    """

    inputs: object = None
    labels: object = None
    index: object = None
    seed: int = 0
    recipe: object = "paper"
    validation: object = None
    groups: object = None
    learning_rate: float | None = None
    class_weight: object = None
    predict: object = None
    name: str | None = None


# ----------------------------------------------------------------------------------------------------------------
# Arithmetic: what one step costs


def forward_macs(model):
    """Multiply-adds of one forward pass of one example, counted from the model's layers.

    Conv2D, Conv3D and Dense layers count ``outputs x kernel volume x input
    channels`` (resp. ``inputs x outputs``); an LSTM ``4 x units x (inputs +
    units)`` per time step; a layer wrapped in TimeDistributed counts once per
    time step; a nested model counts its layers. Activations, pooling and
    normalisation are left out (a few per cent).

    Parameters
    ----------
    model : keras.Model
        Built.

    Returns
    -------
    int
    """
    import keras

    from mer_lib.nn import layer_macs

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.TimeDistributed):
            steps = int(layer.output.shape[1])
            inner = layer.layer
            total += steps * (forward_macs(inner) if isinstance(inner, keras.Model) else layer_macs(inner))
        elif isinstance(layer, keras.Model):
            total += forward_macs(layer)
        elif isinstance(layer, keras.layers.LSTM):
            steps, features = int(layer.input.shape[1]), int(layer.input.shape[2])
            total += steps * 4 * layer.units * (features + layer.units)
        else:
            total += layer_macs(layer)
    return int(total)


def step_flops(model, batch_size=8):
    """Floating-point operations of one training step: 2 per multiply-add, times 3 (forward, then backward).

    The backward pass of a layer costs about twice its forward pass (the
    gradient with respect to the inputs and to the weights), so a step is
    about three forward passes.

    Parameters
    ----------
    model : keras.Model
    batch_size : int

    Returns
    -------
    int
    """
    return int(6 * forward_macs(model) * int(batch_size))


def precision_for_device(mixed_precision="auto"):
    """The Keras dtype policy a batch trains under, and why.

    Parameters
    ----------
    mixed_precision : "auto" or bool
        "auto": bfloat16 arithmetic (float32 weights) on a GPU that has it
        (compute capability 8.0 or newer: A100, H100, H200), float32
        otherwise. bfloat16 has float32's range, so no loss scaling is needed.
        True asks for bfloat16 (an error where there is no GPU).

    Returns
    -------
    policy : str
        "float32" or "mixed_bfloat16".
    reason : str
    """
    import jax

    devices = jax.devices()
    gpu = devices[0].platform == "gpu"
    capability = getattr(devices[0], "compute_capability", None) if gpu else None
    try:
        bf16 = gpu and float(capability) >= 8.0
    except (TypeError, ValueError):
        bf16 = False
    if mixed_precision == "auto":
        if bf16:
            return "mixed_bfloat16", f"bfloat16 on {devices[0].device_kind} (compute capability {capability})"
        return "float32", ("float32: the CPU" if not gpu else
                           f"float32: {devices[0].device_kind} has no fast bfloat16 (compute capability {capability})")
    if mixed_precision is True:
        if not gpu:
            raise UserInputError("mixed_precision=True: bfloat16 training needs a GPU; this JAX process sees none")
        return "mixed_bfloat16", "bfloat16 (asked for)"
    if mixed_precision is False:
        return "float32", "float32 (asked for)"
    raise UserInputError(f"mixed_precision must be 'auto', True or False, got {mixed_precision!r}")


# ----------------------------------------------------------------------------------------------------------------
# Inputs: one pool of clips on the device, each run a set of rows of it


def _items(inputs, what):
    """``inputs`` as a dict of float32 arrays (key None for a plain array), checked."""
    if isinstance(inputs, dict):
        if not inputs:
            raise UserInputError(f"{what}: an empty dict of inputs")
        items = {str(k): np.asarray(v) for k, v in inputs.items()}
    else:
        items = {None: np.asarray(inputs)}
    lengths = {len(v) if v.ndim else -1 for v in items.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise UserInputError(f"{what}: every input needs the same number of clips along the first axis, got "
                             f"{ {k: v.shape for k, v in items.items()} }")
    return items


class _Pool:
    """The clips of a batch, concatenated: runs refer to them by row."""

    def __init__(self, model_inputs):
        self.shapes = model_inputs            # key -> per-clip shape
        self.chunks = {k: [] for k in model_inputs}
        self.labels = []
        self.size = 0

    def add(self, inputs, labels, what):
        items = _items(inputs, what)
        if set(items) != set(self.shapes):
            raise UserInputError(f"{what}: the model takes the inputs {sorted(map(str, self.shapes))}, got "
                                 f"{sorted(map(str, items))}")
        n = len(next(iter(items.values())))
        for key, value in items.items():
            if tuple(value.shape[1:]) != self.shapes[key]:
                raise UserInputError(f"{what}: input {key or 'x'} has clips of shape {tuple(value.shape[1:])}, the "
                                     f"model takes {self.shapes[key]}")
            self.chunks[key].append(np.asarray(value, dtype=np.float32))
        self.labels.append(np.zeros(n, int) if labels is None else np.asarray(labels, dtype=int))
        index = np.arange(self.size, self.size + n)
        self.size += n
        return index

    def arrays(self):
        return ({k: np.concatenate(v) if v else np.zeros((0,) + self.shapes[k], np.float32)
                 for k, v in self.chunks.items()}, np.concatenate(self.labels) if self.labels else np.zeros(0, int))


@dataclass
class _Prepared:
    """A run, resolved: rows of the pool for each set, its recipe and what its training needs."""

    label: str
    seed: int
    recipe: object
    fit: np.ndarray
    fit_labels: np.ndarray
    val: np.ndarray | None
    val_labels: np.ndarray | None
    pred: np.ndarray | None
    sample_weight: np.ndarray             # per class
    learning_rate: object                 # float or a Keras schedule
    fingerprint: dict = field(default_factory=dict)


def _model_inputs(model):
    """Input name (None for a single unnamed input) -> per-clip shape."""
    if isinstance(model.input, dict):
        return {str(k): tuple(int(d) for d in v.shape[1:]) for k, v in model.input.items()}
    inputs = model.inputs
    if len(inputs) != 1:
        raise UserInputError("train_many: a model with several inputs must take them as a dict")
    return {None: tuple(int(d) for d in inputs[0].shape[1:])}


def _index(index, size, what):
    index = np.asarray(index)
    if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
        raise UserInputError(f"{what}: expected a 1-D array of row numbers, got shape {index.shape}, "
                             f"dtype {index.dtype}")
    if len(index) and (index.min() < 0 or index.max() >= size):
        raise UserInputError(f"{what}: row numbers must lie in 0 .. {size - 1} (the rows of data)")
    return index.astype(np.int64)


def _prepare(runs, data, model_inputs, n_classes, epochs, batch_size, model_signature, checkpointing):
    """Check every run and put its clips in one pool; one :class:`_Prepared` per run."""
    from mer_lib.train import class_weights, data_fingerprint, get_recipe, learning_rate_schedule

    pool = _Pool(model_inputs)
    data_rows, data_labels, data_hash = 0, None, None
    if data is not None:
        if not (isinstance(data, tuple) and len(data) == 2):
            raise UserInputError("data must be a tuple (inputs, labels): the clips the runs' index rows refer to")
        data_labels = np.asarray(data[1])
        rows = pool.add(data[0], data_labels, "data")
        data_rows = len(rows)
        if data_labels.shape != (data_rows,):
            raise UserInputError(f"data: labels of shape {data_labels.shape} for {data_rows} clips")
        if checkpointing:
            data_hash = data_fingerprint(data[0], data_labels)
    prepared = []
    for i, run in enumerate(runs):
        if not isinstance(run, Run):
            raise UserInputError(f"runs[{i}]: expected a mer_lib.batched.Run, got {type(run).__name__}")
        label = run.name or f"run {i}"
        recipe = get_recipe(run.recipe)
        if not isinstance(run.seed, (int, np.integer)) or isinstance(run.seed, bool):
            raise UserInputError(f"{label}: seed must be an integer, got {run.seed!r}")
        if run.index is not None:
            if run.inputs is not None or run.labels is not None:
                raise UserInputError(f"{label}: give either index (rows of data) or inputs and labels, not both")
            if data is None:
                raise UserInputError(f"{label}: index needs the batch's data=(inputs, labels)")
            fit = _index(run.index, data_rows, f"{label}: index")
            labels = data_labels[fit]
            fit_source = None
        else:
            if run.inputs is None or run.labels is None:
                raise UserInputError(f"{label}: give the training clips, as inputs and labels or as index")
            labels = np.asarray(run.labels)
            fit_source = run.inputs
            fit = None
        n = len(labels)
        if labels.ndim != 1 or n == 0:
            raise UserInputError(f"{label}: labels must be 1-D and not empty, got shape {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise UserInputError(f"{label}: labels must be integer class indices, got dtype {labels.dtype}")
        if labels.min() < 0 or labels.max() >= n_classes:
            raise UserInputError(f"{label}: labels must be class indices in 0 .. {n_classes - 1}")
        if run.groups is not None and len(run.groups) != n:
            raise UserInputError(f"{label}: groups ({len(run.groups)}) must match the number of clips ({n})")
        if fit is None:
            fit = pool.add(fit_source, labels, f"{label}: inputs")
            if len(fit) != n:
                raise UserInputError(f"{label}: labels ({n}) must match the number of clips ({len(fit)})")
        fingerprint = {}
        if checkpointing:
            if fit_source is not None:
                digest = data_fingerprint(fit_source, labels, run.groups)
            else:
                h = hashlib.blake2b(digest_size=8)
                h.update(f"{data_hash}:{fit.tolist()}:{None if run.groups is None else list(map(str, run.groups))}"
                         .encode())
                digest = h.hexdigest()
            fingerprint = {"data": digest, "model": model_signature, "recipe": recipe.as_dict(),
                           "batch_size": int(batch_size), "seed": int(run.seed), "n_classes": int(n_classes),
                           "learning_rate": None if run.learning_rate is None else float(run.learning_rate),
                           "trainer": "batched"}
            if recipe.schedule == "cosine":
                fingerprint["epochs"] = int(epochs)
        # the validation set: given, or carved out of the training clips as train carves it
        val = val_labels = None
        if run.validation is not None:
            if isinstance(run.validation, tuple):
                if len(run.validation) != 2:
                    raise UserInputError(f"{label}: validation must be (inputs, labels) or rows of data")
                val_labels = np.asarray(run.validation[1], dtype=int)
                val = pool.add(run.validation[0], val_labels, f"{label}: validation")
                if len(val) != len(val_labels):
                    raise UserInputError(f"{label}: validation labels ({len(val_labels)}) must match its clips "
                                         f"({len(val)})")
            else:
                if data is None:
                    raise UserInputError(f"{label}: validation rows need the batch's data=(inputs, labels)")
                val = _index(run.validation, data_rows, f"{label}: validation")
                val_labels = data_labels[val].astype(int)
            if len(val) == 0:
                raise UserInputError(f"{label}: the validation set is empty")
        elif recipe.restore_best:
            from mer_lib.evaluate import validation_split

            if run.groups is not None and len(np.unique(run.groups)) < 2:
                raise UserInputError(f"{label}: the recipe holds out whole subjects for validation: the training "
                                     f"data need at least 2 subjects (groups), got {len(np.unique(run.groups))}")
            fit_pos, val_pos = validation_split(np.arange(n), labels, subjects=run.groups,
                                                fraction=recipe.validation_fraction, seed=run.seed)
            if len(fit_pos) == 0 or len(val_pos) == 0:
                raise UserInputError(f"{label}: {n} clips are too few to hold out a validation set of "
                                     f"{recipe.validation_fraction:.0%}")
            val, val_labels = fit[val_pos], labels[val_pos]
            fit, labels = fit[fit_pos], labels[fit_pos]
        pred = None
        if run.predict is not None:
            if isinstance(run.predict, (dict, np.ndarray)) and not (
                    isinstance(run.predict, np.ndarray) and run.predict.ndim == 1):
                pred = pool.add(run.predict, None, f"{label}: predict")
            else:
                if data is None:
                    raise UserInputError(f"{label}: predict rows need the batch's data=(inputs, labels)")
                pred = _index(run.predict, data_rows, f"{label}: predict")
        class_weight = recipe.class_weight if run.class_weight is None else run.class_weight
        if class_weight == "balanced":
            class_weight = class_weights(labels, n_classes)
        if class_weight is None:
            weights = np.ones(n_classes, np.float32)
        elif isinstance(class_weight, dict):
            weights = np.array([float(class_weight.get(c, 1.0)) for c in range(n_classes)], np.float32)
        else:
            raise UserInputError(f"{label}: class_weight must be None, 'balanced' or a dict, got {class_weight!r}")
        steps = math.ceil(len(fit) / batch_size)
        lr = learning_rate_schedule(recipe, steps, epochs, run.learning_rate)
        prepared.append(_Prepared(label, int(run.seed), recipe, np.asarray(fit, np.int64), np.asarray(labels, int),
                                  val, val_labels, pred, weights, lr, fingerprint))
    return pool, prepared


# ----------------------------------------------------------------------------------------------------------------
# The compiled program


def _schedule_key(lr):
    if isinstance(lr, (int, float)):
        return ("constant", float(lr))
    return (type(lr).__name__, json.dumps(lr.get_config(), sort_keys=True, default=str))


class _Program:
    """The jitted functions of one batch: an epoch of training steps (with validation), and inference."""

    def __init__(self, model, prepared, batch_size, n_classes, input_kinds, pool_labels):
        import jax
        import jax.numpy as jnp
        import keras

        self.model = model
        self.n = len(prepared)
        self.batch_size = b = int(batch_size)
        self.k = int(n_classes)
        sizes = [len(p.fit) for p in prepared]
        self.full_steps = [s // b for s in sizes]
        self.remainders = [s % b for s in sizes]
        self.max_full = max(self.full_steps)
        self.rem_sizes = tuple(sorted({r for r in self.remainders if r}))
        self.ragged = len(set(sizes)) > 1
        self.augment = any(p.recipe.augment for p in prepared)
        self.decay = any(p.recipe.weight_decay > 0 for p in prepared)
        self.restore = any(p.recipe.restore_best for p in prepared)
        self.validate = any(p.val is not None for p in prepared)
        self.input_kinds = input_kinds
        # one optimiser for all runs: Adam, with the learning rate a variable that each step sets from the run's
        # schedule, and AdamW's decoupled decay applied before it, as Keras' AdamW applies it
        self.optimizer = keras.optimizers.Adam(learning_rate=1e-3)
        self.optimizer.build(model.trainable_variables)
        names = [v.name for v in self.optimizer.variables]
        self.it_pos, self.lr_pos = names.index("iteration"), names.index("learning_rate")
        schedules, index = [], []
        for p in prepared:
            key = _schedule_key(p.learning_rate)
            keys = [_schedule_key(s) for s in schedules]
            if key not in keys:
                schedules.append(p.learning_rate)
                keys.append(key)
            index.append(keys.index(key))
        self.schedules = schedules
        self.seed_state = [v.dtype == "uint32" or "seed_generator" in v.path for v in model.non_trainable_variables]
        self.consts = {
            "weight_decay": jnp.asarray([p.recipe.weight_decay for p in prepared], jnp.float32),
            "smoothing": jnp.asarray([p.recipe.label_smoothing for p in prepared], jnp.float32),
            "schedule": jnp.asarray(index, jnp.int32),
            "restore": jnp.asarray([p.recipe.restore_best for p in prepared], bool),
        }
        if self.validate:
            self.consts["val"] = self._index_table([p.val for p in prepared], pool_labels)
        # a recurrent layer's cuDNN kernel (JAX on a GPU) has no rule for vmap: the stacked runs use its scan
        for layer in model._flatten_layers(include_self=False):
            if hasattr(layer, "use_cudnn"):
                layer.use_cudnn = False
        # the state's buffers are reused in place on a GPU (a CPU cannot donate them)
        donate = (0,) if jax.devices()[0].platform != "cpu" else ()
        self._epoch = jax.jit(self._epoch_impl, donate_argnums=donate)
        self._infer = jax.jit(self._infer_impl)

    # -- tables ----------------------------------------------------------------------------------------------
    def _index_table(self, index_sets, pool_labels):
        """Rows of every run, padded to a common multiple of the batch size, with a mask: (N, M)."""
        import jax.numpy as jnp

        longest = max((len(s) for s in index_sets if s is not None), default=0)
        m = max(self.batch_size, math.ceil(longest / self.batch_size) * self.batch_size)
        rows = np.zeros((self.n, m), np.int32)
        mask = np.zeros((self.n, m), np.float32)
        for i, s in enumerate(index_sets):
            if s is not None and len(s):
                rows[i, :len(s)] = s
                mask[i, :len(s)] = 1.0
        return {"rows": jnp.asarray(rows), "mask": jnp.asarray(mask), "labels": jnp.asarray(pool_labels[rows])}

    def epoch_tables(self, prepared, epoch):
        """The batches of every run in this epoch (rows, labels, weights, flips, shifts), from (seed, epoch)."""
        import jax.numpy as jnp

        from mer_lib.train import epoch_augmentation, epoch_order

        b, n, kmax = self.batch_size, self.n, self.max_full
        full = {"rows": np.zeros((kmax, n, b), np.int32), "labels": np.zeros((kmax, n, b), np.int32),
                "weights": np.zeros((kmax, n, b), np.float32), "flips": np.zeros((kmax, n, b), bool),
                "moves": np.zeros((kmax, n, b, 2), np.int32), "valid": np.zeros((kmax, n), bool)}
        rest = {r: {"rows": np.zeros((n, r), np.int32), "labels": np.zeros((n, r), np.int32),
                    "weights": np.zeros((n, r), np.float32), "flips": np.zeros((n, r), bool),
                    "moves": np.zeros((n, r, 2), np.int32), "valid": np.zeros(n, bool)} for r in self.rem_sizes}
        for i, p in enumerate(prepared):
            size = len(p.fit)
            order = epoch_order(p.seed, epoch, size)
            rows, labels = p.fit[order], p.fit_labels[order]
            weights = p.sample_weight[labels]
            if p.recipe.augment:
                flips, moves = epoch_augmentation(p.seed, epoch, size, p.recipe.shift)
            else:
                flips, moves = np.zeros(size, bool), np.zeros((size, 2), int)
            k, r = self.full_steps[i], self.remainders[i]
            cut = k * b
            for key, value in (("rows", rows), ("labels", labels), ("weights", weights), ("flips", flips),
                               ("moves", moves)):
                full[key][:k, i] = value[:cut].reshape((k, b) + value.shape[1:])
                if r:
                    rest[r][key][i] = value[cut:]
            full["valid"][:k, i] = True
            if r:
                rest[r]["valid"][i] = True
        as_device = lambda d: {key: jnp.asarray(v) for key, v in d.items()}  # noqa: E731
        return {"full": as_device(full), "rest": tuple(as_device(rest[r]) for r in self.rem_sizes)}

    # -- the step of one run ---------------------------------------------------------------------------------
    def _gather(self, pool, rows, flips, moves):
        """One run's batch from the pool: clips gathered, flipped and shifted as mer_lib.train.augment does."""
        import jax
        import jax.numpy as jnp

        out = {}
        for key, array in pool.items():
            x = array[rows]                          # (b, T, H, W, 1)
            if self.augment:
                h, w = x.shape[2], x.shape[3]
                ys = jnp.clip(jnp.arange(h)[None, :] - moves[:, 0:1], 0, h - 1)        # out[y] = in[y - dy], edge
                xs = jnp.clip(jnp.arange(w)[None, :] - moves[:, 1:2], 0, w - 1)
                xs = jnp.where(flips[:, None], w - 1 - xs, xs)                         # the flip comes first
                x = jax.vmap(lambda clip, yy, xx: clip[:, yy][:, :, xx])(x, ys, xs)
                if self.input_kinds[key] == "flow":   # a mirrored face moves the mirrored way: u changes sign
                    t = x.shape[1]
                    sign = jnp.where(jnp.arange(t) < t // 2, -1.0, 1.0).astype(x.dtype)
                    x = jnp.where(flips[:, None, None, None, None], x * sign[None, :, None, None, None], x)
            out[key] = x
        return out if None not in out else out[None]

    def _learning_rate(self, iteration, schedule):
        import jax.numpy as jnp

        values = [jnp.asarray(s(iteration) if callable(s) else s, jnp.float32) for s in self.schedules]
        return jnp.stack(values)[schedule]

    def _run_step(self, pool, tv, ntv, ov, batch, weight_decay, smoothing, schedule):
        import jax
        import jax.numpy as jnp
        import keras

        x = self._gather(pool, batch["rows"], batch["flips"], batch["moves"])
        y, w = batch["labels"], batch["weights"]
        size = y.shape[0]

        def loss_fn(trainable):
            pred, new_ntv = self.model.stateless_call(trainable, ntv, x, training=True)
            pred = jnp.asarray(pred, jnp.float32)
            target = jax.nn.one_hot(y, self.k, dtype=jnp.float32)
            target = target * (1.0 - smoothing) + smoothing / jnp.float32(self.k)   # Keras' label smoothing
            per_clip = keras.losses.categorical_crossentropy(target, pred)
            return jnp.sum(per_clip * w) / size, (pred, new_ntv)            # "sum_over_batch_size"

        (loss, (pred, new_ntv)), grads = jax.value_and_grad(loss_fn, has_aux=True)(tv)
        lr = self._learning_rate(ov[self.it_pos], schedule)
        ov = list(ov)
        ov[self.lr_pos] = lr.astype(ov[self.lr_pos].dtype)
        if self.decay:        # keras' AdamW: variable - variable * wd * lr, before the update
            tv = [t - t * weight_decay.astype(t.dtype) * lr.astype(t.dtype) for t in tv]
        new_tv, new_ov = self.optimizer.stateless_apply(ov, grads, tv)
        # fit's history: the loss averaged over the batches weighted by their size; the accuracy unweighted
        # (Keras weights only its `weighted_metrics` by the class weights)
        correct = (jnp.argmax(pred, axis=-1) == y).astype(jnp.float32)
        metrics = jnp.stack([loss * size, jnp.float32(size), jnp.sum(correct), jnp.float32(size)])
        return list(new_tv), list(new_ntv), list(new_ov), metrics

    def _steps(self, pool, state, metrics, batch, consts):
        """One step of every run (a run whose ``valid`` is False passes through unchanged)."""
        import jax
        import jax.numpy as jnp

        tv, ntv, ov = state["tv"], state["ntv"], state["ov"]
        step = jax.vmap(self._run_step, in_axes=(None, 0, 0, 0, 0, 0, 0, 0))
        new_tv, new_ntv, new_ov, m = step(pool, tv, ntv, ov, {k: v for k, v in batch.items() if k != "valid"},
                                          consts["weight_decay"], consts["smoothing"], consts["schedule"])
        if self.ragged:
            valid = batch["valid"]

            def keep(new, old):
                return [jnp.where(valid.reshape((-1,) + (1,) * (a.ndim - 1)), a, o) for a, o in zip(new, old)]

            new_tv, new_ntv, new_ov = keep(new_tv, tv), keep(new_ntv, ntv), keep(new_ov, ov)
            m = m * valid[:, None].astype(m.dtype)
        return {**state, "tv": new_tv, "ntv": new_ntv, "ov": new_ov}, metrics + m

    def _epoch_impl(self, state, pool, consts, tables, epoch):
        import jax
        import jax.numpy as jnp

        lr_start = jax.vmap(self._learning_rate)(state["ov"][self.it_pos], consts["schedule"])
        metrics = jnp.zeros((self.n, 4), jnp.float32)
        if self.max_full:
            def body(carry, batch):
                return self._steps(pool, carry[0], carry[1], batch, consts), None

            (state, metrics), _ = jax.lax.scan(body, (state, metrics), tables["full"])
        for batch in tables["rest"]:
            state, metrics = self._steps(pool, state, metrics, batch, consts)
        out = {"loss": metrics[:, 0] / metrics[:, 1], "accuracy": metrics[:, 2] / metrics[:, 3],
               "learning_rate": lr_start}
        if self.validate:
            val = consts["val"]
            probs = self._infer_impl(state["tv"], state["ntv"], pool, val["rows"])
            target = jax.nn.one_hot(val["labels"], self.k, dtype=jnp.float32)
            smoothing = consts["smoothing"][:, None, None]
            target = target * (1.0 - smoothing) + smoothing / jnp.float32(self.k)
            import keras

            per_clip = keras.losses.categorical_crossentropy(target, probs)
            count = jnp.maximum(val["mask"].sum(axis=1), 1.0)
            out["val_loss"] = (per_clip * val["mask"]).sum(axis=1) / count
            correct = (jnp.argmax(probs, -1) == val["labels"]).astype(jnp.float32)
            out["val_accuracy"] = (correct * val["mask"]).sum(axis=1) / count
            if self.restore:
                better = consts["restore"] & (out["val_loss"] < state["best_loss"])

                def pick(new, old):
                    return [jnp.where(better.reshape((-1,) + (1,) * (a.ndim - 1)), a, o) for a, o in zip(new, old)]

                state = {**state, "best_tv": pick(state["tv"], state["best_tv"]),
                         "best_ntv": pick(state["ntv"], state["best_ntv"]),
                         "best_loss": jnp.where(better, out["val_loss"], state["best_loss"]),
                         "best_epoch": jnp.where(better, epoch + 1, state["best_epoch"])}
        return state, out

    def _infer_impl(self, tv, ntv, pool, rows):
        """Class probabilities of every run on its rows, (N, M, K), in chunks of the batch size."""
        import jax
        import jax.numpy as jnp

        n, m = rows.shape
        chunks = rows.reshape(n, m // self.batch_size, self.batch_size).transpose(1, 0, 2)

        def one(trainable, non_trainable, r):
            x = {key: array[r] for key, array in pool.items()}
            pred, _ = self.model.stateless_call(trainable, non_trainable, x if None not in x else x[None],
                                                training=False)
            return jnp.asarray(pred, jnp.float32)

        def body(_, r):
            return None, jax.vmap(one)(tv, ntv, r)

        _, probs = jax.lax.scan(body, None, chunks)        # (chunks, N, b, K)
        return probs.transpose(1, 0, 2, 3).reshape(n, m, self.k)

    def run_epoch(self, state, pool, tables, epoch):
        return self._epoch(state, pool, self.consts, tables, epoch)

    def predict(self, state, pool, index_sets, pool_labels, final=False):
        """Probabilities of every run on its own rows (a list of (n_i, K) arrays; None where a run has none)."""
        table = self._index_table(index_sets, pool_labels)
        tv, ntv = (state["tv"], state["ntv"]) if not final else self.final_weights(state)
        probs = np.asarray(self._infer(tv, ntv, pool, table["rows"]))
        # copies: a view would keep the device buffer alive for as long as the caller keeps the result
        return [None if s is None else np.array(probs[i, :len(s)]) for i, s in enumerate(index_sets)]

    def final_weights(self, state):
        """The weights each run returns: its last epoch's, or its best epoch's when its recipe restores one."""
        import jax.numpy as jnp

        if not self.restore:
            return state["tv"], state["ntv"]
        use = self.consts["restore"] & (state["best_epoch"] > 0)

        def pick(best, last, keep_last=False):
            if keep_last:
                return last
            return jnp.where(use.reshape((-1,) + (1,) * (last.ndim - 1)), best, last)

        tv = [pick(b, t) for b, t in zip(state["best_tv"], state["tv"])]
        ntv = [pick(b, t, seed) for b, t, seed in zip(state["best_ntv"], state["ntv"], self.seed_state)]
        return tv, ntv


# ----------------------------------------------------------------------------------------------------------------
# Checkpoints: one file per batch, written atomically


def _save(path, state, meta):
    import jax

    from mer_lib.data.prepare import atomic_write

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
    from mer_lib.train import CollapseWarning, DeviceNotice

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
            gc.collect()
    finally:
        keras.mixed_precision.set_global_policy(previous)
    for i, (run, result) in enumerate(zip(runs, results)):
        for message in result.warnings:
            label = run.name or f"run {i}"
            warnings.warn(f"{label}: {message}" if len(runs) > 1 else message, CollapseWarning, stacklevel=2)
    return results


def _train_batch(build_model, named, data, n_classes, epochs, batch_size, path, checkpoint_every, keep_models,
                 verbose, device, shortened, notes, policy, why):
    import jax
    import jax.numpy as jnp

    from mer_lib import diagnostics
    from mer_lib.train import TrainResult, _model_signature, compile_with_recipe, get_recipe, set_seeds

    # each run's initial weights: the model built after seeding, as train builds it
    models, initial = [], []
    for run in named:
        set_seeds(run.seed)
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
        model = None
        if keep_models:
            model = models[i]
            for var, value in zip(model.trainable_variables, tv):
                var.assign(value[i])
            for var, value in zip(model.non_trainable_variables, ntv):
                var.assign(value[i])
            compile_with_recipe(model, p.recipe, math.ceil(len(p.fit) / batch_size), epochs,
                                named[i].learning_rate, jit_compile=True)
        results.append(TrainResult(model, histories[i], epochs, start, device, shortened,
                                   notes + [batch_note], initial_losses[i], best_epoch,
                                   found,
                                   p.recipe, checkpoint_seconds, train_seconds, "batched", policy, len(prepared),
                                   pred_probs[i], list(epoch_seconds)))
    del state, program, pool_device, models, template
    return results


def _keras_version():
    import keras

    return keras.__version__


# ----------------------------------------------------------------------------------------------------------------
# A measurement for chapter 10: N runs stacked in one program against the same runs one after another


def _stacking_model(shape):
    import keras
    from keras import layers

    inp = keras.Input(shape, name="frames")
    x = layers.Flatten()(inp)
    x = layers.Dense(64, activation="relu")(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x))


def measure_stacking(n_runs=8, epochs=4, clips=131, size=16, batch_size=8):
    """Time an epoch of one run, and of ``n_runs`` runs stacked in one program, of a small model.

    The model reads clips of 8 frames of ``size`` x ``size`` pixels (random:
    speed does not depend on them) through one hidden Dense layer: a step is
    cheap, as a step of the paper's network is for a GPU. Needs the JAX
    backend (see :func:`measure_stacking_in_subprocess`).

    Parameters
    ----------
    n_runs, epochs, clips, size, batch_size : int

    Returns
    -------
    dict
        ``one_run_epoch_s`` and ``stacked_epoch_s`` (the median epoch after
        the first, which compiles), ``n_runs``, ``speedup`` (``n_runs`` runs
        one after another against stacked), ``compile_s``, ``device``.
    """
    import warnings as _warnings

    import jax

    rng = np.random.default_rng(0)
    x = rng.normal(size=(clips, 8, size, size, 1)).astype(np.float32)
    y = np.arange(clips) % 3
    build = lambda: _stacking_model(x.shape[1:])  # noqa: E731
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        one = train_many(build, [Run(x, y, seed=0)], epochs=epochs, batch_size=batch_size, verbose=0,
                         keep_models=False)[0]
        many = train_many(build, [Run(index=np.arange(clips), seed=s) for s in range(n_runs)], data=(x, y),
                          epochs=epochs, batch_size=batch_size, verbose=0, keep_models=False)[0]
    t1 = float(np.median(one.epoch_seconds[1:]))
    tn = float(np.median(many.epoch_seconds[1:]))
    return {"n_runs": int(n_runs), "epochs": int(epochs), "clips": int(clips), "one_run_epoch_s": t1,
            "stacked_epoch_s": tn, "speedup": n_runs * t1 / tn, "compile_s": many.epoch_seconds[0] - tn,
            "device": jax.devices()[0].device_kind}


def measure_stacking_in_subprocess(timeout=600, platform="cpu", **kwargs):
    """:func:`measure_stacking` in a child process on Keras' JAX backend, from any backend (Colab's TensorFlow).

    Parameters
    ----------
    timeout : float
        Seconds.
    platform : str
        JAX's platform in the child ("cpu": the measurement of chapter 10).
    **kwargs
        Passed to :func:`measure_stacking`.

    Returns
    -------
    dict or None
        Its result, or None when JAX is not installed.
    str
        Why there is no result (empty when there is one).
    """
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("jax") is None:
        return None, "JAX is not installed here (pip install jax), so the batched trainer cannot run"
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["JAX_PLATFORMS"] = platform
    code = ("import json, sys; from mer_lib.batched import measure_stacking; "
            f"print('RESULT', json.dumps(measure_stacking(**{json.dumps(kwargs)})))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):]), ""
    return None, f"the measurement failed: {(done.stderr.strip().splitlines() or ['no output'])[-1]}"
