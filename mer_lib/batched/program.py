"""One compiled program for a batch of runs: the runs, their clips pooled on the device, the vmapped step."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["Run"]


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
            from mer_lib.splits import validation_split

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
