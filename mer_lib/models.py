"""The paper's two-stream 3D CNN and the baselines of its Table 3, in Keras 3.

Chapter ``book/09_two_stream_network.md`` derives every shape of the paper's
Table 1. The models use only backend-independent Keras layers, so they build
and run under the TensorFlow (default), JAX and PyTorch backends.

Input layout. Clips are (T, H, W, 1): time first, then space, one channel.
The frame stream takes 8 grey frames, (8, 64, 64, 1); the flow stream takes
16 flow maps, the 8 horizontal ones followed by the 8 vertical ones,
(16, 64, 64, 1), "connected in series" as the paper says.

The paper's variant. Table 1's shapes (conv 32*64*64*8, pooled 10*21*21*8,
flattened 35280) come out only of a *channels-first* convolution over the
paper's 64*64*8 input (space, space, time), with 'same' padding and the
3*3*15 kernel's 15 along time, followed by a *channels-last* max pooling,
which then reads the 32 filters as depth and the 8 frames as channels: it pools
over groups of three filters and over space, never over time. TensorFlow has
no CPU kernel for channels-first Conv3D, so the convolution is a channels-last
Conv3D followed by a Permute that moves the filters in front.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import layers, ops

from mer_lib.errors import UserInputError

__all__ = ["two_stream", "stream_model", "one_stream_3dcnn", "cnn_rnn", "OnsetRelative", "CNN_RNN_INPUTS",
           "TABLE1", "compile_model", "predict"]

#: Table 1 of the paper: layer name -> output shape (batch left out).
TABLE1 = {
    "conv3d_1": (32, 64, 64, 8), "max_pooling3d_1": (10, 21, 21, 8), "dropout_1": (10, 21, 21, 8),
    "flatten_1": (35280,), "dense_1": (128,),
    "conv3d_2": (32, 64, 64, 16), "max_pooling3d_2": (10, 21, 21, 16), "dropout_2": (10, 21, 21, 16),
    "flatten_2": (70560,), "dense_2": (128,),
    "merge": (256,), "softmax": (3,),
}
#: Total parameter count of the paper's network (from Table 1's shapes).
TABLE1_PARAMS = 13_557_251

_VARIANTS = ("paper", "corrected")
#: Normalisation layers that can follow each Flatten (None: the paper's network, without one). Batch
#: normalisation's moving statistics follow the batches with momentum 0.9, not Keras' 0.99: with ~14
#: steps an epoch, 0.99 leaves the statistics used at inference far from the data's for tens of epochs.
_NORMALIZATIONS = {"batch": functools.partial(layers.BatchNormalization, momentum=0.9),
                   "layer": layers.LayerNormalization}


def _check_shape(shape, name):
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4 or shape[-1] != 1 or min(shape) < 1:
        raise ValueError(f"{name} must be (T, H, W, 1) with positive sizes, got {shape!r}")
    return shape


def _stream(x, index, variant, filters, kernel_size, pool_size, dropout, dense_units, normalization=None):
    """One stream: (T, H, W, 1) -> Dense(dense_units). Layer names follow Table 1."""
    # (T, H, W, 1) -> (H, W, T, 1): the paper's 64*64*8 layout, time last.
    x = layers.Permute((2, 3, 1, 4), name=f"to_hwt_{index}")(x)
    if variant == "paper":
        x = layers.Conv3D(filters, kernel_size, padding="same", activation="relu",
                          name=f"conv3d_channels_last_{index}")(x)
        # (H, W, T, F) -> (F, H, W, T): the channels-first output of Table 1.
        x = layers.Permute((4, 1, 2, 3), name=f"conv3d_{index}")(x)
    else:
        x = layers.Conv3D(filters, kernel_size, padding="same", activation="relu", name=f"conv3d_{index}")(x)
    x = layers.MaxPooling3D(pool_size, name=f"max_pooling3d_{index}")(x)
    x = layers.Dropout(dropout, name=f"dropout_{index}")(x)
    x = layers.Flatten(name=f"flatten_{index}")(x)
    if normalization is not None:
        x = _NORMALIZATIONS[normalization](name=f"normalization_{index}")(x)
    return layers.Dense(dense_units, activation="relu", name=f"dense_{index}")(x)


def two_stream(variant="paper", frames_shape=(8, 64, 64, 1), flow_shape=(16, 64, 64, 1), n_classes=3,
               filters=32, kernel_size=(3, 3, 15), pool_size=(3, 3, 3), dropout=0.5, dense_units=128,
               normalization=None, name=None):
    """The paper's enriched two-stream 3D CNN (Table 1).

    Parameters
    ----------
    variant : {"paper", "corrected"}
        "paper" reproduces Table 1 exactly (channels-first convolution,
        channels-last pooling: pools across filters and space, never time);
        "corrected" pools over space and time as the paper's text describes.
    frames_shape : tuple, default (8, 64, 64, 1)
        (T, H, W, 1) of the frame stream.
    flow_shape : tuple, default (16, 64, 64, 1)
        (2T, H, W, 1) of the flow stream: T horizontal then T vertical maps.
    n_classes : int, default 3
    filters, kernel_size, pool_size, dropout, dense_units
        Per-stream settings; the kernel is (H, W, T) = 3*3*15 as in Table 1.
    normalization : None, "batch" or "layer", default None
        A normalisation layer after each Flatten (``normalization_1`` and
        ``normalization_2``). None is the paper's network; "batch" is what the
        library's stable recipe uses: it centres the flattened features,
        which are all non-negative after ReLU and max pooling, so that Adam's
        first steps do not move every hidden unit the same way (chapter 10).
    name : str, optional

    Returns
    -------
    keras.Model
        Inputs ``{"frames": (N, *frames_shape), "flow": (N, *flow_shape)}``,
        output (N, n_classes) softmax probabilities. Uncompiled.

    Examples
    --------
    >>> model = two_stream()
    >>> model.count_params()
    13557251
    """
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}")
    frames_shape = _check_shape(frames_shape, "frames_shape")
    flow_shape = _check_shape(flow_shape, "flow_shape")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes!r}")
    frames = keras.Input(frames_shape, name="frames")
    flow = keras.Input(flow_shape, name="flow")
    _normalization(normalization)
    args = (variant, filters, kernel_size, pool_size, dropout, dense_units, normalization)
    a = _stream(frames, 1, *args)
    b = _stream(flow, 2, *args)
    merged = layers.Concatenate(name="merge")([a, b])
    out = layers.Dense(int(n_classes), activation="softmax", dtype="float32", name="softmax")(merged)
    return keras.Model({"frames": frames, "flow": flow}, out, name=name or f"two_stream_{variant}")


def _normalization(normalization):
    if normalization is not None and normalization not in _NORMALIZATIONS:
        raise ValueError(f"normalization must be None or one of {tuple(_NORMALIZATIONS)}, got {normalization!r}")
    return normalization


def stream_model(stream="frames", variant="paper", input_shape=None, n_classes=3, filters=32,
                 kernel_size=(3, 3, 15), pool_size=(3, 3, 3), dropout=0.5, dense_units=128, normalization=None,
                 name=None):
    """One stream of the two-stream network alone, with its own softmax: the same layers, one input.

    Trained on frames it is the two-stream network without its flow stream; on
    flow, without its frame stream. Beside :func:`two_stream` it measures what
    each stream contributes with the architecture held fixed.

    Parameters
    ----------
    stream : {"frames", "flow"}
        The input's name (and the stream's number in layer names: 1 or 2).
    variant : {"paper", "corrected"}
    input_shape : tuple, optional
        (T, H, W, 1); default (8, 64, 64, 1) for frames, (16, 64, 64, 1) for flow.
    n_classes, filters, kernel_size, pool_size, dropout, dense_units, normalization, name
        As in :func:`two_stream`.

    Returns
    -------
    keras.Model
        Input ``{stream: (N, *input_shape)}``, output (N, n_classes). Uncompiled.

    Examples
    --------
    >>> stream_model("flow").count_params()
    9036547
    """
    if stream not in ("frames", "flow"):
        raise ValueError(f"stream must be 'frames' or 'flow', got {stream!r}")
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}")
    _normalization(normalization)
    if input_shape is None:
        input_shape = (8, 64, 64, 1) if stream == "frames" else (16, 64, 64, 1)
    input_shape = _check_shape(input_shape, "input_shape")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes!r}")
    index = 1 if stream == "frames" else 2
    inp = keras.Input(input_shape, name=stream)
    x = _stream(inp, index, variant, filters, kernel_size, pool_size, dropout, dense_units, normalization)
    out = layers.Dense(int(n_classes), activation="softmax", dtype="float32", name="softmax")(x)
    return keras.Model({stream: inp}, out, name=name or f"{stream}_stream_{variant}")


def _fit(k, n):
    return min(int(k), int(n))


def one_stream_3dcnn(input_shape=(8, 64, 64, 1), n_classes=3, filters=32, kernel_size=(3, 3, 15),
                     pool_size=(3, 3, 3), dropout=0.5, dense_units=128, normalization=None, name="one_stream_3dcnn"):
    """The one-stream 3D CNN baseline of Table 3, after MicroExpSTCNN (Reddy et al., IJCNN 2019).

    Conv3D(32, 3*3*15, valid, relu) -> MaxPooling3D(3*3*3) -> Dropout ->
    Flatten -> Dense(128, relu) -> Dropout -> Dense(n_classes, softmax), on raw
    grey frames, pooling over space and time. MicroExpSTCNN was designed for
    clips of 18 or more frames: with fewer frames than the kernel's 15 (the
    paper's 8), the kernel's and the pool's extent along time are capped at
    what fits, so that 'valid' keeps its meaning.

    Parameters
    ----------
    input_shape : tuple, default (8, 64, 64, 1)
        (T, H, W, 1).
    n_classes, filters, kernel_size, pool_size, dropout, dense_units, normalization, name
        As in :func:`two_stream`; the kernel is given as (H, W, T).

    Returns
    -------
    keras.Model
        Input (N, *input_shape), output (N, n_classes). Uncompiled.
    """
    t, h, w, _ = _check_shape(input_shape, "input_shape")
    _normalization(normalization)
    kernel = (_fit(kernel_size[0], h), _fit(kernel_size[1], w), _fit(kernel_size[2], t))
    conv_out = (h - kernel[0] + 1, w - kernel[1] + 1, t - kernel[2] + 1)
    pool = tuple(_fit(p, n) for p, n in zip(pool_size, conv_out))
    inp = keras.Input((t, h, w, 1), name="frames")
    x = layers.Permute((2, 3, 1, 4), name="to_hwt")(inp)
    x = layers.Conv3D(filters, kernel, padding="valid", activation="relu", name="conv3d")(x)
    x = layers.MaxPooling3D(pool, name="max_pooling3d")(x)
    x = layers.Dropout(dropout, name="dropout_1")(x)
    x = layers.Flatten(name="flatten")(x)
    if normalization is not None:
        x = _NORMALIZATIONS[normalization](name="normalization")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = layers.Dropout(dropout, name="dropout_2")(x)
    out = layers.Dense(int(n_classes), activation="softmax", dtype="float32", name="softmax")(x)
    return keras.Model(inp, out, name=name)


#: What the per-frame CNN of :func:`cnn_rnn` may read (its ``inputs`` argument).
CNN_RNN_INPUTS = ("frames", "onset_relative")
#: Keeps the onset-relative scaling of a still clip finite (its differences are all 0); as the pipeline's.
_ONSET_EPS = 1e-6


@keras.saving.register_keras_serializable(package="mer_lib")
class OnsetRelative(layers.Layer):
    """Each frame minus the clip's first (onset) frame, scaled per clip to unit root mean square.

    ``y_t = (x_t - x_0) / (rms(x - x_0) + 1e-6)``, the RMS taken over the
    clip's frames, pixels and channels. What is left of a clip is how it
    changed since the onset: the face itself (the same in every frame)
    cancels, and the scaling does for frames what the pipeline does for flow
    (:mod:`mer_lib.pipeline` divides a clip's flows by their RMS magnitude).
    A clip whose frames are all equal gives zeros. Our choice for
    :func:`cnn_rnn`, not the paper's (see its Notes). Computes in float32
    under any precision policy (the squares of small differences).

    Input (N, T, H, W, C); output the same shape, frame 0 all zeros.

    Examples
    --------
    >>> import numpy as np
    >>> clip = np.zeros((1, 3, 2, 2, 1), "float32")
    >>> clip[0, 2] += 4.0                            # the third frame brighter by 4
    >>> np.round(np.asarray(OnsetRelative()(clip))[0, :, 0, 0, 0], 3)
    array([0.   , 0.   , 1.732], dtype=float32)
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, x):
        relative = x - x[:, :1]
        rms = ops.sqrt(ops.mean(ops.square(relative), axis=tuple(range(1, len(x.shape))), keepdims=True))
        return relative / (rms + _ONSET_EPS)

    def compute_output_shape(self, input_shape):
        return input_shape


def cnn_rnn(input_shape=(8, 64, 64, 1), n_classes=3, filters=(32, 64), dense_units=128, lstm_units=128,
            dropout=0.5, normalization=None, inputs="onset_relative", name="cnn_rnn"):
    """The CNN_RNN baseline of Table 3: a per-frame 2D CNN, then an LSTM over time.

    After the CNN + LSTM designs the paper cites (Kim et al. 2016; Khor et al.
    2018): each frame goes through the same small 2D CNN
    (Conv2D -> MaxPooling2D, twice, -> Flatten -> Dense ``frame_features``),
    giving one feature vector per frame; an LSTM reads the sequence, and a
    softmax classifies its last state. The paper gives neither the inputs nor
    the layers of its CNN_RNN: both are our assumptions.

    Parameters
    ----------
    input_shape : tuple, default (8, 64, 64, 1)
        (T, H, W, 1): grey frames, onset first.
    n_classes : int
    filters : tuple of 2 ints
        Filters of the two Conv2D layers.
    dense_units, lstm_units : int
    dropout : float
    normalization : None, "batch" or "layer"
        A normalisation layer after the per-frame Flatten.
    inputs : {"onset_relative", "frames"}, default "onset_relative"
        What the per-frame CNN reads. "onset_relative": each frame minus the
        onset frame, scaled per clip to unit RMS (an :class:`OnsetRelative`
        layer named ``onset_relative``, inside the model, so that every
        caller gets it); "frames": the frames themselves (the library's
        CNN_RNN before issue 23). Ours, not the paper's: see Notes.
    name : str

    Returns
    -------
    keras.Model
        Input (N, *input_shape), output (N, n_classes). Uncompiled. The
        LSTM computes in float32 even under a mixed-precision policy (the
        cuDNN LSTM of JAX has no float16 kernel, and its recurrence
        accumulates rounding errors in float16).

    Raises
    ------
    UserInputError
        ``inputs`` not one of :data:`CNN_RNN_INPUTS`.

    Notes
    -----
    Why onset-relative frames (our assumption; the paper says only that a CNN
    encodes each frame and an LSTM learns the temporal change). Measured by
    ``benchmarks/bench_cnn_rnn.py`` (``benchmarks/results/cnn_rnn.md``:
    SynthME at 32x32, the paper's 80/20 split, 30 epochs, 3 seeds): on the
    frames themselves the per-frame features encode the face; they vary
    along a clip by 5-9% of how much they vary between clips, so the LSTM
    reads nearly the same vector eight times, and the test UF1 stays at or
    below chance (0.26 +- 0.06 with the paper's recipe, which fits the
    training clips only slowly; 0.36 +- 0.07 with the stable one; chance
    0.32). Relative to the onset the face cancels, the features vary along a
    clip as much as between clips, and the same layers reach a test UF1 of
    0.60 +- 0.02 (paper's recipe) and 0.42 +- 0.06 (stable recipe, held back
    mostly by its augmentation within 30 epochs: 0.55 +- 0.08 over 2 seeds
    without it). The scaling per clip is what the pipeline does for flow: the model sees where
    and when a clip changes, not how strongly.

    Examples
    --------
    >>> model = cnn_rnn((8, 32, 32, 1))
    >>> model.get_layer("onset_relative").output.shape
    (None, 8, 32, 32, 1)
    >>> cnn_rnn((8, 32, 32, 1), inputs="frames").count_params() == model.count_params()
    True
    """
    if inputs not in CNN_RNN_INPUTS:
        raise UserInputError(f"inputs must be one of {', '.join(map(repr, CNN_RNN_INPUTS))}, got {inputs!r}")
    t, h, w, _ = _check_shape(input_shape, "input_shape")
    _normalization(normalization)
    frame = keras.Input((h, w, 1))
    x = frame
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv2d_{i + 1}")(x)
        x = layers.MaxPooling2D(2, name=f"max_pooling2d_{i + 1}")(x)
    x = layers.Flatten()(x)
    if normalization is not None:
        x = _NORMALIZATIONS[normalization](name="normalization")(x)
    x = layers.Dense(dense_units, activation="relu", name="frame_features")(x)
    encoder = keras.Model(frame, x, name="frame_encoder")
    inp = keras.Input((t, h, w, 1), name="frames")
    seq = OnsetRelative(name="onset_relative")(inp) if inputs == "onset_relative" else inp
    seq = layers.TimeDistributed(encoder, name="per_frame_cnn")(seq)
    seq = layers.LSTM(lstm_units, dtype="float32", name="lstm")(seq)
    seq = layers.Dropout(dropout, name="dropout")(seq)
    out = layers.Dense(int(n_classes), activation="softmax", dtype="float32", name="softmax")(seq)
    return keras.Model(inp, out, name=name)


def compile_model(model, learning_rate=1e-3, jit_compile="auto"):
    """Compile a model as the paper trains it: categorical cross-entropy and Adam.

    The paper says only "the default learning rate scheduling"; Adam at
    Keras' default rate 1e-3 is the assumption made here.

    Parameters
    ----------
    model : keras.Model
    learning_rate : float
    jit_compile : bool or "auto"
        XLA compilation ("auto": Keras decides; on for a GPU).

    Returns
    -------
    keras.Model
        The same model, compiled with accuracy as metric.
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="categorical_crossentropy", metrics=["accuracy"], jit_compile=jit_compile)
    return model


def predict(model, inputs, batch_size=64):
    """A model's outputs on clips, called on one batch after another (inference: ``training=False``).

    What ``model.predict`` gives, without its compiled prediction step and
    its ``tf.data`` pipeline: each new model's step is traced once (0.5 s of
    a 2-core CPU for the two-stream network at 32 x 32), and each call sets
    up a pipeline (0.1 s), while a training run of this course predicts its
    few clips two or three times. The same layers run with the same
    weights: the outputs agree with ``model.predict``'s (a test checks).

    Parameters
    ----------
    model : keras.Model
    inputs : ndarray (N, ...) or dict of ndarray (N, ...)
    batch_size : int

    Returns
    -------
    ndarray, shape (N, ...), or list of ndarray
        One array per output of the model (a list when it has several).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)
    parts = []
    for start in range(0, max(n, 1), int(batch_size)):     # no clips: one empty batch, outputs of length 0
        batch = ({k: v[start:start + batch_size] for k, v in inputs.items()} if isinstance(inputs, dict)
                 else inputs[start:start + batch_size])
        out = model(batch, training=False)
        parts.append([np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [np.asarray(out)])
    columns = [np.concatenate(column) for column in zip(*parts)]
    return columns if len(model.outputs) > 1 else columns[0]
