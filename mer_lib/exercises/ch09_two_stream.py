"""Exercises of chapter 9, the two-stream network (book/09_two_stream_network.md)."""

from mer_lib import nn
from mer_lib.exercises import Case, Exercise, register


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
    advice={"(64, 64, 8, 32) by 3x3x3": "'valid' pooling drops what is left over: floor(n / 3).",
            "(32, 64, 64, 8) by 3x3x3": "channels last: the last axis is never pooled."},
))


def dense_params(n_in, n_out):
    """Parameters of a Dense layer: a weight per input-output pair plus a bias per output."""
    return n_in * n_out + n_out


register(Exercise(
    name="two_stream.dense_params",
    cases=lambda: [Case("2 -> 1", (2, 1)), Case("35280 -> 128 (dense_1)", (35280, 128)),
                   Case("256 -> 3 (softmax)", (256, 3))],
    reference=dense_params,
    advice={"2 -> 1": "do not forget the bias."},
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
    advice={"frames, the paper's layout": "the 32 filters come first and get pooled by 3; time (8) is the "
                                          "channel axis and is kept."},
))
