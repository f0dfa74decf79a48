"""Exercises of chapter 9, the two-stream network (book/09_two_stream_network.md)."""

import numpy as np

from mer_lib import nn
from mer_lib.exercises import Case, Exercise, register, describe


def pooled_shape(shape, pool_size):
    """Shape after a 'valid' MaxPooling3D whose window and stride are pool_size.

    shape (D, H, W, C) channels last -> (D', H', W', C)
    """
    return tuple(nn.output_length(n, p, p, "valid") for n, p in zip(shape[:3], pool_size)) + (shape[3],)


register(Exercise(
    name="two_stream.pooled_shape",
    cases=lambda: [Case("(63, 63, 63, 1) by 3x3x3", ((63, 63, 63, 1), (3, 3, 3))),
                   Case("(64, 64, 8, 32) by 3x3x3", ((64, 64, 8, 32), (3, 3, 3))),
                   Case("(32, 64, 64, 8) by 3x3x3", ((32, 64, 64, 8), (3, 3, 3))),
                   Case("(10, 9, 8, 4) by 2x3x4", ((10, 9, 8, 4), (2, 3, 4)))],
    reference=pooled_shape,
    advice={"(64, 64, 8, 32) by 3x3x3": "8 frames in windows of 3: what does 'valid' pooling do with what is left over?",
            "(32, 64, 64, 8) by 3x3x3": "which axis holds the channels in (D, H, W, C), and does pooling touch it?"},
))


def max_pool_by_loops(x, pool_size):
    """A channels-last 'valid' MaxPooling3D whose stride is its window, on one example.

    x (D, H, W, C) -> (D // p0, H // p1, W // p2, C): the largest value of each window, channel by
    channel; what does not fill a window is dropped. (Computed here by reshaping, not by loops.)
    """
    x = np.asarray(x)
    p = tuple(int(v) for v in pool_size)
    out = [n // k for n, k in zip(x.shape[:3], p)]
    cut = x[:out[0] * p[0], :out[1] * p[1], :out[2] * p[2]]
    blocks = cut.reshape(out[0], p[0], out[1], p[1], out[2], p[2], x.shape[3])
    return blocks.max(axis=(1, 3, 5))


def _pool_cases():
    rng = np.random.default_rng(91)
    ramp = np.arange(6.0).reshape(1, 1, 6, 1)
    return [Case("a ramp along W, pool 1x1x2", (ramp, (1, 1, 2))),
            Case("random (6, 6, 6, 2), pool 3x3x3", (rng.standard_normal((6, 6, 6, 2)), (3, 3, 3))),
            Case("sizes that do not divide: (7, 5, 8, 1), pool 3x2x3", (rng.standard_normal((7, 5, 8, 1)), (3, 2, 3))),
            Case("negative values only, pool 2x2x2", (-rng.random((4, 4, 2, 3)) - 1, (2, 2, 2))),
            Case("the paper's reading: 32 filters x 9 x 9 x 4 frames, pool 3x3x3",
                 (rng.standard_normal((32, 9, 9, 4)), (3, 3, 3)))]


register(Exercise(
    name="two_stream.max_pool_by_loops", cases=_pool_cases, reference=max_pool_by_loops, rtol=1e-7, atol=1e-12,
    advice={"a ramp along W, pool 1x1x2": "windows do not overlap: the stride equals the window. Check the "
                                         "output's shape first.",
            "random (6, 6, 6, 2), pool 3x3x3": "each channel is pooled on its own: the last axis is never pooled.",
            "sizes that do not divide: (7, 5, 8, 1), pool 3x2x3": "'valid': a window that does not fit is dropped, "
                                                                   "not padded.",
            "negative values only, pool 2x2x2": "what does your running maximum start from?",
            "the paper's reading: 32 filters x 9 x 9 x 4 frames, pool 3x3x3": "a channels-last pooling reads "
                                                                             "the last axis as channels, "
                                                                             "whatever it holds."},
))


def flatten_length(hwt, filters, pool_size, layout):
    """Flattened length of one stream for a 'same' conv then a 'valid' pooling.

    hwt: (H, W, T) input; layout "channels_last" (conv output (H, W, T, F), pooled
    over H, W, T) or "paper" (conv output read as (F, H, W, T), pooled over F, H, W).
    """
    h, w, t = hwt
    shape = (h, w, t, filters) if layout == "channels_last" else (filters, h, w, t)
    out = pooled_shape(shape, pool_size)
    return out[0] * out[1] * out[2] * out[3]


register(Exercise(
    name="two_stream.flatten_length",
    cases=lambda: [Case("frames, channels last", ((64, 64, 8), 32, (3, 3, 3), "channels_last")),
                   Case("frames, the paper's layout", ((64, 64, 8), 32, (3, 3, 3), "paper")),
                   Case("flow, the paper's layout", ((64, 64, 16), 32, (3, 3, 3), "paper")),
                   Case("a small stream, the paper's layout", ((12, 12, 4), 6, (2, 2, 2), "paper"))],
    reference=flatten_length,
    advice={"frames, the paper's layout": "in the paper's layout, which of the four axes does a channels-last "
                                          "pooling read as channels, and leave alone?"},
))


def paper_stream(input_shape, filters=32, kernel_size=(3, 3, 15), pool_size=(3, 3, 3), dense_units=128):
    """One stream of the paper's variant, in Keras: input (H, W, T, 1), the paper's layout with time last.

    Conv3D(filters, kernel_size, 'same', ReLU), channels last -> Permute((4, 1, 2, 3)): the channels-first
    output (filters, H, W, T) of Table 1 -> MaxPooling3D(pool_size), channels last (pools filters and
    space, never time) -> Dropout(0.5) -> Flatten -> Dense(dense_units, ReLU). ReLU and the dropout rate
    are the course's assumptions (mer_lib.models), not the paper's.
    """
    import keras
    from keras import layers

    x = inputs = keras.Input(input_shape)
    x = layers.Conv3D(filters, kernel_size, padding="same", activation="relu")(x)
    x = layers.Permute((4, 1, 2, 3))(x)
    x = layers.MaxPooling3D(pool_size)(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, activation="relu")(x)
    return keras.Model(inputs, x)


def _compare_streams(got, expected, case):
    """Same output for the same weights on the same input (dropout is off at inference)."""
    import keras

    if not isinstance(got, keras.Model):
        return f"expected a keras.Model, got {describe(got)}"
    want, have = tuple(expected.output.shape[1:]), tuple(got.output.shape[1:])
    if have != want:
        return f"the output has shape {have}, expected {want}"
    if got.count_params() != expected.count_params():
        flat = [tuple(l.output.shape[1:]) for l in expected.layers if isinstance(l, keras.layers.Flatten)]
        return (f"{got.count_params():,} parameters, expected {expected.count_params():,} "
                f"(the expected stream flattens to {flat[0]})")
    weights = expected.get_weights()
    if [w.shape for w in got.get_weights()] != [w.shape for w in weights]:
        return (f"weights of shapes {[w.shape for w in got.get_weights()]}, expected "
                f"{[w.shape for w in weights]}")
    got.set_weights(weights)
    x = np.random.default_rng(9).random((2, *expected.input.shape[1:])).astype("float32")
    a = keras.ops.convert_to_numpy(expected(x, training=False))
    b = keras.ops.convert_to_numpy(got(x, training=False))
    if not np.allclose(a, b, rtol=1e-4, atol=1e-5):
        return (f"with the same weights the outputs differ (largest difference {np.abs(a - b).max():.3g}): "
                f"same shapes and parameters, so look at the activations, the padding and the order of the "
                f"axes before Flatten")
    return None


register(Exercise(
    name="two_stream.paper_stream",
    cases=lambda: [Case("a small stream: (12, 15, 8, 1), 6 filters, Dense 5", ((12, 15, 8, 1), 6, (3, 3, 3),
                                                                            (3, 3, 3), 5)),
                   Case("a kernel longer than the clip: (9, 12, 4, 1), 3x3x7, 4 filters", ((9, 12, 4, 1), 4, (3, 3, 7),
                                                                                     (3, 3, 3), 3)),
                   Case("an uneven pooling: (10, 8, 6, 1), pool 2x2x3", ((10, 8, 6, 1), 5, (3, 3, 3), (2, 2, 3), 4)),
                   Case("the paper's frame stream: (64, 64, 8, 1)", ((64, 64, 8, 1),))],
    reference=paper_stream,
    compare=_compare_streams,
    advice={"a small stream: (12, 15, 8, 1), 6 filters, Dense 5": "print model.summary(): after the convolution "
                                                                 "the filters must come first, (filters, H, W, T), "
                                                                 "as in Table 1, before an ordinary pooling.",
            "a kernel longer than the clip: (9, 12, 4, 1), 3x3x7, 4 filters": "which padding keeps 4 frames when "
                                                                             "the kernel is 7 deep?",
            "an uneven pooling: (10, 8, 6, 1), pool 2x2x3": "use the pool_size you are given, axis by axis.",
            "the paper's frame stream: (64, 64, 8, 1)": "it must flatten to Table 1's 35280."},
))
