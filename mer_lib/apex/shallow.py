"""A shallow three-stream network in the spirit of STSTNet, and a trainer for many copies at once.

STSTNet (Liong, Gan, See, Khor & Huang, FG 2019; its authors' code,
github.com/christy1206/STSTNet) reads a 28 x 28 x 3 image (optical strain,
horizontal and vertical flow between the onset and the apex). Three streams
each convolve all three channels with 3 x 3 kernels (3, 5 and 8 filters,
zero padding 2), then ReLU, batch normalisation, 3 x 3 max pooling with
stride 3 and dropout 0.5; their maps are concatenated, average-pooled 2 x 2,
flattened (5 x 5 x 16 = 400) and classified by one dense layer. That is
theirs (from the authors' code). Ours, and said so in :func:`shallow_net`:
the pooling windows start at the first pixel (theirs pad by one), batch
normalisation follows the pooling instead of preceding it (cheaper: 100
positions a map instead of 900; with a positive scale the two commute, only
the statistics differ), and the training recipe (:data:`RECIPE`).

Because the three streams read the same input, they are one convolution with
3 + 5 + 8 = 16 filters whose maps are concatenated: the "streams" are a
grouping of filters, not three inputs.

:class:`ShallowCopies` holds S x C independent copies of the network in one
Keras model (S streams of data, one per seed, each feeding C copies, e.g.
the folds of leave-one-subject-out), and :func:`train_copies` trains them
all with one ``fit``: per-copy masks say which clips each copy trains on
(weight 0 elsewhere, in the loss and in the batch-normalisation statistics),
so a copy's test clips never reach it. Copies share no parameter, and
Adam's update is per parameter, so each copy trains as it would alone;
``tests/test_apex.py`` checks that, and that a copy's weights moved into
:func:`shallow_net` predict the same.
"""

from __future__ import annotations

import time

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["FILTERS", "RECIPE", "shallow_net", "ShallowCopies", "train_copies", "predict_copies", "copy_to_model",
           "CopiesRun"]

#: Filters of the three streams (STSTNet's).
FILTERS = (3, 5, 8)
#: Our training recipe: Adam, plain cross-entropy. Fixed on another SynthME draw (seed 1) from its training
#: loss and a validation split carved out of its training clips, never on the clips the chapter reports.
#: The authors' code: Adam at 5e-5, batches of 256 (the whole training set), 800 epochs, on 8-bit inputs.
RECIPE = dict(learning_rate=0.01, batch_size=16, epochs=12, dropout=0.5)
_MOMENTUM, _EPSILON = 0.9, 1e-5


def _geometry(input_shape, filters, kernel_size, padding, pool_size):
    """(conv side, pooled side, average-pooled side, flattened length), or UserInputError."""
    try:
        h, w, c = (int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise UserInputError(f"input_shape: expected (H, W, C), got {input_shape!r}") from None
    if h != w or min(h, c) < 1:
        raise UserInputError(f"input_shape: expected a square (H, H, C) with positive sizes, got {input_shape!r}")
    filters = tuple(int(f) for f in filters)
    if not filters or min(filters) < 1:
        raise UserInputError(f"filters: expected positive integers, one per stream, got {filters!r}")
    conv = h + 2 * int(padding) - int(kernel_size) + 1
    pooled = conv // int(pool_size) if conv > 0 else 0
    avg = pooled // 2
    if avg < 1:
        raise UserInputError(f"input_shape {input_shape}: too small for a {kernel_size}x{kernel_size} kernel, "
                             f"{pool_size}x{pool_size} max pooling and 2x2 average pooling")
    return conv, pooled, avg, avg * avg * sum(filters)


def shallow_net(input_shape=(28, 28, 3), n_classes=3, filters=FILTERS, kernel_size=3, padding=2, pool_size=3,
                dropout=0.5, name="shallow_net"):
    """The shallow three-stream network (STSTNet's design, with the changes listed in the module's docstring).

    Parameters
    ----------
    input_shape : tuple, default (28, 28, 3)
        (H, H, C): the channels are the optical strain and the two flow components.
    n_classes : int, default 3
    filters : tuple of int, default (3, 5, 8)
        Filters per stream.
    kernel_size, padding, pool_size : int, default 3, 2, 3
    dropout : float, default 0.5
    name : str

    Returns
    -------
    keras.Model
        Input (N, H, H, C), output (N, n_classes) softmax probabilities.
        Layers ``conv_k``, ``pool_k``, ``bn_k`` and ``dropout_k`` for stream
        k = 1, 2, 3, then ``concatenate``, ``average_pool``, ``flatten``,
        ``dense``. Uncompiled.

    Examples
    --------
    >>> shallow_net().count_params()
    1715
    """
    import keras
    from keras import layers

    _geometry(input_shape, filters, kernel_size, padding, pool_size)
    if int(n_classes) < 2:
        raise UserInputError(f"n_classes: expected an integer >= 2, got {n_classes!r}")
    inp = keras.Input(tuple(int(s) for s in input_shape), name="apex_input")
    x = layers.ZeroPadding2D(int(padding), name="padding")(inp)
    streams = []
    for k, f in enumerate(filters, start=1):
        h = layers.Conv2D(int(f), int(kernel_size), activation="relu", name=f"conv_{k}")(x)
        h = layers.MaxPooling2D(int(pool_size), name=f"pool_{k}")(h)
        h = layers.BatchNormalization(momentum=_MOMENTUM, epsilon=_EPSILON, name=f"bn_{k}")(h)
        streams.append(layers.Dropout(dropout, name=f"dropout_{k}")(h))
    x = layers.Concatenate(name="concatenate")(streams) if len(streams) > 1 else streams[0]
    x = layers.AveragePooling2D(2, name="average_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(int(n_classes), activation="softmax", dtype="float32", name="dense")(x)
    return keras.Model(inp, out, name=name)


def _keras_model_class():
    import keras
    from keras import ops

    class _ShallowCopies(keras.Model):
        """S streams x C copies of :func:`shallow_net` (see :class:`ShallowCopies`)."""

        def __init__(self, n_streams, n_copies, input_shape=(28, 28, 3), n_classes=3, filters=FILTERS,
                     kernel_size=3, padding=2, pool_size=3, dropout=0.5, seed=0, **kwargs):
            super().__init__(**kwargs)
            self.n_streams, self.n_copies = int(n_streams), int(n_copies)
            self.in_shape = tuple(int(s) for s in input_shape)
            self.n_classes, self.filters = int(n_classes), tuple(int(f) for f in filters)
            self.kernel_size, self.padding, self.pool_size = int(kernel_size), int(padding), int(pool_size)
            self.dropout_rate = float(dropout)
            _, self.pooled, self.avg, self.flat = _geometry(self.in_shape, self.filters, self.kernel_size,
                                                            self.padding, self.pool_size)
            self.width = sum(self.filters)
            self.drop = keras.layers.Dropout(self.dropout_rate, seed=int(seed))
            s, c, f, k, ch = self.n_streams, self.n_copies, self.width, self.kernel_size, self.in_shape[2]
            add = self.add_weight
            self.kernel = add(shape=(s, k, k, ch, c * f), initializer="zeros", name="kernel")
            self.bias = add(shape=(s, c * f), initializer="zeros", name="bias")
            self.gamma = add(shape=(s, c * f), initializer="ones", name="gamma")
            self.beta = add(shape=(s, c * f), initializer="zeros", name="beta")
            self.moving_mean = add(shape=(s, c * f), initializer="zeros", trainable=False, name="moving_mean")
            self.moving_var = add(shape=(s, c * f), initializer="ones", trainable=False, name="moving_variance")
            self.head_kernel = add(shape=(s, c, self.flat, self.n_classes), initializer="zeros", name="head_kernel")
            self.head_bias = add(shape=(s, c, self.n_classes), initializer="zeros", name="head_bias")

        def call(self, inputs, training=False):
            x, w = inputs["x"], inputs["w"]                  # (B, S, H, H, C_in), (B, S, C)
            c, f, p = self.n_copies, self.width, self.padding
            b = ops.shape(x)[0]
            logits, means, variances = [], [], []
            for s in range(self.n_streams):
                xs = ops.pad(x[:, s], [[0, 0], [p, p], [p, p], [0, 0]])
                z = ops.relu(ops.conv(xs, self.kernel[s], padding="valid") + self.bias[s])
                h = ops.max_pool(z, self.pool_size, self.pool_size, padding="valid")     # (B, P, P, C*F)
                if training:
                    ws = ops.repeat(w[:, s], f, axis=1)                                  # (B, C*F)
                    count = ops.sum(ws, axis=0) * float(self.pooled ** 2)
                    seen = count > 0
                    safe = ops.where(seen, count, 1.0)
                    mean = ops.sum(ops.sum(h, axis=(1, 2)) * ws, axis=0) / safe
                    var = ops.sum(ops.sum(ops.square(h - mean), axis=(1, 2)) * ws, axis=0) / safe
                    mean = ops.where(seen, mean, self.moving_mean[s])
                    var = ops.where(seen, var, self.moving_var[s])
                    means.append(mean)
                    variances.append(var)
                else:
                    mean, var = self.moving_mean[s], self.moving_var[s]
                scale = self.gamma[s] * ops.rsqrt(var + _EPSILON)
                h = h * scale + (self.beta[s] - mean * scale)
                h = self.drop(h, training=training)
                h = ops.mean(ops.reshape(h, (b, self.avg, 2, self.avg, 2, c * f)), axis=(2, 4))  # 2 x 2 average
                h = ops.transpose(ops.reshape(h, (b, self.avg * self.avg, c, f)), (0, 2, 1, 3))
                h = ops.reshape(h, (b, c, self.flat))
                logits.append(ops.einsum("bck,ckj->bcj", h, self.head_kernel[s]) + self.head_bias[s])
            if training:
                m = _MOMENTUM
                self.moving_mean.assign(m * self.moving_mean + (1 - m) * ops.stack(means))
                self.moving_var.assign(m * self.moving_var + (1 - m) * ops.stack(variances))
            return ops.softmax(ops.stack(logits, axis=1), axis=-1)                     # (B, S, C, K)

    return _ShallowCopies


class ShallowCopies:
    """S x C independent copies of :func:`shallow_net` in one Keras model.

    Parameters
    ----------
    n_streams : int
        S: streams of data, each with its own batch order and its own seed.
    n_copies : int
        C: copies per stream (e.g. one per fold).
    input_shape, n_classes, filters, kernel_size, padding, pool_size, dropout
        As in :func:`shallow_net`.
    seed : int
        Seed of the dropout masks.

    Notes
    -----
    The Keras model (:attr:`model`) takes ``{"x": (B, S, H, H, C_in), "w": (B, S, C)}``
    (stream s's batch of clips, and which of them each copy may learn from)
    and returns (B, S, C, n_classes) probabilities. The average pooling
    before the dense layer drops a last odd row and column, as Keras'
    ``AveragePooling2D`` does. The copies' maps are laid out copy after copy,
    ``sum(filters)`` channels each, streams' filters in order.
    """

    def __init__(self, n_streams, n_copies, input_shape=(28, 28, 3), n_classes=3, filters=FILTERS, kernel_size=3,
                 padding=2, pool_size=3, dropout=0.5, seed=0):
        for name, value in (("n_streams", n_streams), ("n_copies", n_copies)):
            if int(value) != value or value < 1:
                raise UserInputError(f"{name}: expected a positive integer, got {value!r}")
        conv, pooled, avg, flat = _geometry(input_shape, filters, kernel_size, padding, pool_size)
        if pooled % 2:
            raise UserInputError(f"input_shape {input_shape}: the pooled maps ({pooled} x {pooled}) must have an even "
                                 "side for the copies' 2 x 2 average pooling")
        self.config = dict(n_streams=int(n_streams), n_copies=int(n_copies),
                           input_shape=tuple(int(s) for s in input_shape), n_classes=int(n_classes),
                           filters=tuple(int(f) for f in filters), kernel_size=int(kernel_size),
                           padding=int(padding), pool_size=int(pool_size), dropout=float(dropout))
        self.model = _keras_model_class()(**self.config, seed=int(seed), name="shallow_copies")
        s, c = self.config["n_streams"], self.config["n_copies"]
        h = self.config["input_shape"]
        self.model({"x": np.zeros((1, s) + h, np.float32), "w": np.ones((1, s, c), np.float32)})

    def initialize(self, seeds, copy_keys):
        """Draw every copy's weights from ``(seed of its stream, its key)``, as Keras would for one network.

        Glorot-uniform kernels (fan-in and fan-out of each stream's own
        convolution, and of the dense layer), zero biases, batch
        normalisation at identity. A copy drawn from the same (seed, key)
        starts the same whatever else is trained beside it.

        Parameters
        ----------
        seeds : sequence of int, length S
        copy_keys : sequence of int, length C
        """
        cfg = self.config
        seeds, copy_keys = [int(s) for s in seeds], [int(k) for k in copy_keys]
        if len(seeds) != cfg["n_streams"] or len(copy_keys) != cfg["n_copies"]:
            raise UserInputError(f"seeds and copy_keys: expected {cfg['n_streams']} and {cfg['n_copies']} values, got "
                                 f"{len(seeds)} and {len(copy_keys)}")
        k, cin, width = cfg["kernel_size"], cfg["input_shape"][2], sum(cfg["filters"])
        flat = self.model.flat
        kernel = np.zeros(self.model.kernel.shape, np.float32)
        head = np.zeros(self.model.head_kernel.shape, np.float32)
        for s, seed in enumerate(seeds):
            for c, key in enumerate(copy_keys):
                rng = np.random.default_rng([seed, key])
                start = c * width
                for f in cfg["filters"]:
                    limit = np.sqrt(6.0 / (k * k * cin + k * k * f))
                    kernel[s, ..., start:start + f] = rng.uniform(-limit, limit, (k, k, cin, f))
                    start += f
                limit = np.sqrt(6.0 / (flat + cfg["n_classes"]))
                head[s, c] = rng.uniform(-limit, limit, (flat, cfg["n_classes"]))
        m = self.model
        m.kernel.assign(kernel)
        m.head_kernel.assign(head)
        for var, value in ((m.bias, 0.0), (m.gamma, 1.0), (m.beta, 0.0), (m.moving_mean, 0.0), (m.moving_var, 1.0),
                           (m.head_bias, 0.0)):
            var.assign(np.full(var.shape, value, np.float32))
        return self

    def copy_weights(self, stream, copy):
        """The weights of one copy, by the names of :func:`shallow_net`'s layers.

        Parameters
        ----------
        stream, copy : int

        Returns
        -------
        dict of str to list of ndarray
            ``conv_k``: [kernel (k, k, C_in, F_k), bias]; ``bn_k``: [gamma,
            beta, moving mean, moving variance]; ``dense``: [kernel (flat,
            n_classes), bias].
        """
        cfg = self.config
        if not (0 <= stream < cfg["n_streams"] and 0 <= copy < cfg["n_copies"]):
            raise UserInputError(f"stream, copy: expected 0 <= stream < {cfg['n_streams']} and 0 <= copy < "
                                 f"{cfg['n_copies']}, got {stream}, {copy}")
        m = self.model
        arrays = {name: np.asarray(getattr(m, name))[stream]
                  for name in ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_var")}
        out = {}
        start = copy * sum(cfg["filters"])
        for k, f in enumerate(cfg["filters"], start=1):
            sl = slice(start, start + f)
            out[f"conv_{k}"] = [arrays["kernel"][..., sl], arrays["bias"][sl]]
            out[f"bn_{k}"] = [arrays[n][sl] for n in ("gamma", "beta", "moving_mean", "moving_var")]
            start += f
        out["dense"] = [np.asarray(m.head_kernel)[stream, copy], np.asarray(m.head_bias)[stream, copy]]
        return out


def copy_to_model(copies, stream, copy):
    """A :func:`shallow_net` holding the weights of one copy of a :class:`ShallowCopies`.

    Parameters
    ----------
    copies : ShallowCopies
    stream, copy : int

    Returns
    -------
    keras.Model
        Uncompiled; predicts what the copy predicts (in inference mode).
    """
    cfg = copies.config
    model = shallow_net(cfg["input_shape"], cfg["n_classes"], cfg["filters"], cfg["kernel_size"], cfg["padding"],
                        cfg["pool_size"], cfg["dropout"], name=f"shallow_net_s{stream}_c{copy}")
    for name, arrays in copies.copy_weights(stream, copy).items():
        model.get_layer(name).set_weights(arrays)
    return model


def copies_crossentropy(y_true, y_pred):
    """Cross-entropy summed over the copies, per clip: a masked clip has an all-zero ``y_true`` and costs nothing."""
    from keras import ops

    return -ops.sum(y_true * ops.log(ops.clip(y_pred, 1e-7, 1.0)), axis=(1, 2, 3))


class CopiesRun:
    """What :func:`train_copies` returns.

    Attributes
    ----------
    copies : ShallowCopies
        The trained copies.
    loss : ndarray, shape (epochs, S, C)
        Each copy's mean training loss in each epoch (its own clips only).
    cpu_seconds, wall_seconds : float
        Processor time of this process, and wall-clock time, of the training.
    settings : dict
    """

    def __init__(self, copies, loss, cpu_seconds, wall_seconds, settings):
        self.copies, self.loss = copies, loss
        self.cpu_seconds, self.wall_seconds, self.settings = cpu_seconds, wall_seconds, settings


def _batches_class():
    import keras

    class _CopyBatches(keras.utils.PyDataset):
        """Batches of every stream's own shuffled clips, with each copy's mask; a new order each epoch."""

        def __init__(self, x, onehot, masks, seeds, batch_size):
            super().__init__()
            self.x, self.onehot, self.masks = x, onehot, masks
            self.seeds, self.batch_size = seeds, batch_size
            self.epoch = 0
            self._shuffle()

        def _shuffle(self):
            n = len(self.x)
            self.order = np.stack([np.random.default_rng([seed, 1_000_003, self.epoch]).permutation(n)
                                   for seed in self.seeds], axis=1)                          # (N, S)

        def __len__(self):
            return int(np.ceil(len(self.x) / self.batch_size))

        def __getitem__(self, k):
            idx = self.order[k * self.batch_size:(k + 1) * self.batch_size]                  # (b, S)
            w = np.stack([self.masks[s][:, idx[:, s]].T for s in range(idx.shape[1])], axis=1)  # (b, S, C)
            w = w.astype(np.float32)
            y = self.onehot[idx][:, :, None, :] * w[..., None]                              # (b, S, C, K)
            return {"x": self.x[idx], "w": w}, y

        def on_epoch_end(self):
            self.epoch += 1
            self._shuffle()

    return _CopyBatches


def _copy_loss_class():
    import keras
    from keras import ops

    class _CopyLoss(keras.metrics.Metric):
        """Each copy's mean cross-entropy over the clips it trained on in this epoch."""

        def __init__(self, shape, **kwargs):
            super().__init__(name="copy_loss", **kwargs)
            self.total = self.add_variable(shape=shape, initializer="zeros", name="total")
            self.count = self.add_variable(shape=shape, initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            ce = -ops.sum(y_true * ops.log(ops.clip(y_pred, 1e-7, 1.0)), axis=-1)            # (B, S, C)
            self.total.assign(self.total + ops.sum(ce, axis=0))
            self.count.assign(self.count + ops.sum(ops.sum(y_true, axis=-1), axis=0))

        def result(self):
            return self.total / ops.maximum(self.count, 1.0)

        def reset_state(self):
            self.total.assign(ops.zeros(self.total.shape))
            self.count.assign(ops.zeros(self.count.shape))

    return _CopyLoss


def train_copies(x, labels, masks, seeds, *, copy_keys=None, n_classes=3, epochs=RECIPE["epochs"],
                 batch_size=RECIPE["batch_size"], learning_rate=RECIPE["learning_rate"], dropout=RECIPE["dropout"],
                 progress=True, budget=None, **network):
    """Train S x C copies of the shallow network with one Keras ``fit``.

    Every stream s draws its own order of all N clips each epoch (from
    ``seeds[s]`` and the epoch); each batch is fed to the C copies of the
    stream, and copy c learns only from the clips where ``masks[s, c]`` is
    true (its loss and its batch-normalisation statistics ignore the others).

    Parameters
    ----------
    x : array_like, shape (N, H, H, C_in)
    labels : array_like of int, shape (N,)
    masks : array_like of bool, shape (S, C, N)
        The training clips of each copy.
    seeds : sequence of int, length S
        Each stream's seed: its copies' initial weights (with ``copy_keys``)
        and its batch order.
    copy_keys : sequence of int, length C, optional
        Default 0 .. C - 1.
    n_classes : int
    epochs, batch_size, learning_rate, dropout
        Default :data:`RECIPE`.
    progress : bool
        A progress bar over the epochs.
    budget : object with ``left()``, optional
        A time budget (:class:`mer_lib.budget.Budget`): ``epochs`` is then the
        most. After every epoch the training stops if what is left of the
        budget is less than that epoch took (the first epoch, which traces
        the model, always runs). The epochs trained and each epoch's seconds
        are in the run's ``settings`` (``epochs``, ``epochs_asked``,
        ``epoch_seconds``). Adam's learning rate does not depend on the number
        of epochs, so a shorter training is the same training stopped earlier.
    **network
        ``filters``, ``kernel_size``, ``padding``, ``pool_size`` (as in :func:`shallow_net`).

    Returns
    -------
    CopiesRun
    """
    import keras

    from mer_lib.env import progress_bar, seed_keras

    x = np.asarray(x, np.float32)
    labels = np.asarray(labels)
    masks = np.asarray(masks)
    if x.ndim != 4:
        raise UserInputError(f"x: expected shape (N, H, H, C), got {x.shape}")
    if labels.shape != (len(x),) or not np.issubdtype(labels.dtype, np.integer) or \
            labels.min() < 0 or labels.max() >= n_classes:
        raise UserInputError(f"labels: expected {len(x)} integers in 0 .. {n_classes - 1}")
    if masks.ndim != 3 or masks.shape[2] != len(x) or masks.dtype != bool:
        raise UserInputError(f"masks: expected booleans of shape (S, C, {len(x)}), got {masks.dtype} {masks.shape}")
    if not masks.any(axis=2).all():
        raise UserInputError("masks: every copy needs at least one training clip")
    seeds = [int(s) for s in seeds]
    n_streams, n_copies = masks.shape[:2]
    if len(seeds) != n_streams:
        raise UserInputError(f"seeds: expected {n_streams} (one per stream of masks), got {len(seeds)}")
    copy_keys = list(range(n_copies)) if copy_keys is None else [int(k) for k in copy_keys]
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if int(value) != value or value < 1:
            raise UserInputError(f"{name}: expected a positive integer, got {value!r}")
    seed_keras(seeds[0])
    copies = ShallowCopies(n_streams, n_copies, x.shape[1:], n_classes, dropout=dropout, seed=seeds[0], **network)
    copies.initialize(seeds, copy_keys)
    model = copies.model
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=copies_crossentropy,
                  metrics=[_copy_loss_class()((n_streams, n_copies))])
    data = _batches_class()(x, np.eye(n_classes, dtype=np.float32)[labels], masks, seeds, int(batch_size))
    losses, epoch_seconds = [], []
    bar = progress_bar(total=int(epochs), desc=f"training {n_streams * n_copies} copies") if progress else None

    class _Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            losses.append(np.asarray(logs["copy_loss"], float).reshape(n_streams, n_copies))
            epoch_seconds.append(time.perf_counter() - self.started)
            if bar is not None:
                bar.update(1)
            if budget is not None and budget.left() < epoch_seconds[-1]:
                self.model.stop_training = True              # the next epoch would not fit what is left

    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        model.fit(data, epochs=int(epochs), verbose=0, callbacks=[_Record()], shuffle=False)  # the streams shuffle
    finally:
        if bar is not None:
            bar.close()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    settings = dict(copies.config, epochs=len(losses), epochs_asked=int(epochs), batch_size=int(batch_size),
                    learning_rate=float(learning_rate), seeds=seeds, copy_keys=copy_keys,
                    backend=keras.backend.backend(), epoch_seconds=[round(t, 3) for t in epoch_seconds])
    return CopiesRun(copies, np.stack(losses), cpu, wall, settings)


def predict_copies(copies, x, batch_size=32):
    """Every copy's class probabilities for every clip (inference mode).

    Parameters
    ----------
    copies : ShallowCopies
    x : array_like, shape (N, H, H, C_in)
    batch_size : int

    Returns
    -------
    ndarray, shape (N, S, C, n_classes)
    """
    x = np.asarray(x, np.float32)
    cfg = copies.config
    if x.ndim != 4 or x.shape[1:] != cfg["input_shape"]:
        raise UserInputError(f"x: expected shape (N, {', '.join(map(str, cfg['input_shape']))}), got {x.shape}")
    s, c = cfg["n_streams"], cfg["n_copies"]
    out = []
    for start in range(0, len(x), int(batch_size)):
        xb = x[start:start + int(batch_size)]
        feed = {"x": np.repeat(xb[:, None], s, axis=1), "w": np.ones((len(xb), s, c), np.float32)}
        out.append(np.asarray(copies.model(feed, training=False)))
    return np.concatenate(out)
