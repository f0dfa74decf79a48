"""Exercises of chapter 8, 3D convolutions (book/08_conv3d.md)."""

import numpy as np

from mer_lib import nn
from mer_lib.exercises import Case, Exercise, register


def window_response(window, kernel):
    """The inner loop of conv3d: one output position, every filter.

    window (kd, kh, kw, C_in), kernel (kd, kh, kw, C_in, C_out) -> (C_out,)
    """
    return np.tensordot(np.asarray(window, float), np.asarray(kernel, float), axes=4)


def _window_cases():
    rng = np.random.default_rng(8)
    return [
        Case("a 1x1x1 window, one channel, one filter", (np.full((1, 1, 1, 1), 2.0), np.full((1, 1, 1, 1, 1), 3.0))),
        Case("an asymmetric 1x1x3 window (no kernel flip!)",
             (np.arange(3.0).reshape(1, 1, 3, 1), np.array([1.0, 0, 0]).reshape(1, 1, 3, 1, 1))),
        Case("a 3x3x3 window with 2 channels and 4 filters",
             (rng.standard_normal((3, 3, 3, 2)), rng.standard_normal((3, 3, 3, 2, 4)))),
        Case("the paper's 3x3x15 kernel, 32 filters",
             (rng.standard_normal((3, 3, 15, 1)), rng.standard_normal((3, 3, 15, 1, 32)))),
    ]


register(Exercise(
    name="conv3d.window_response", cases=_window_cases, reference=window_response,
    advice={"an asymmetric 1x1x3 window (no kernel flip!)":
            "Keras' Conv3D is a cross-correlation: multiply window[i] by kernel[i], do not flip the kernel.",
            "a 3x3x3 window with 2 channels and 4 filters":
            "sum over the window AND the input channels, once per output filter."},
))


def _length_cases():
    return [Case("n=64, k=3, s=3, valid", (64, 3, 3, "valid")), Case("n=8, k=15, s=1, same", (8, 15, 1, "same")),
            Case("n=7, k=3, s=2, same", (7, 3, 2, "same")), Case("n=10, k=4, s=3, valid", (10, 4, 3, "valid")),
            Case("n=2, k=3, s=1, valid (window does not fit)", (2, 3, 1, "valid"))]


register(Exercise(
    name="conv3d.output_length", cases=_length_cases, reference=nn.output_length,
    advice={"n=7, k=3, s=2, same": "with 'same' the output length is ceil(n / s), whatever the kernel.",
            "n=2, k=3, s=1, valid (window does not fit)": "no full window fits: 0 outputs."},
))


def conv_macs(input_shape, filters, kernel_size, padding):
    return nn.conv3d_macs(input_shape, filters, kernel_size, 1, padding)


def _macs_cases():
    return [Case("(4, 4, 4, 1), 1 filter, 3x3x3, valid", ((4, 4, 4, 1), 1, (3, 3, 3), "valid")),
            Case("(8, 8, 8, 2), 4 filters, 3x3x3, same", ((8, 8, 8, 2), 4, (3, 3, 3), "same")),
            Case("the paper's frame stream: (64, 64, 8, 1), 32 filters, 3x3x15, same",
                 ((64, 64, 8, 1), 32, (3, 3, 15), "same"))]


register(Exercise(
    name="conv3d.conv_macs", cases=_macs_cases, reference=conv_macs,
    advice={"(8, 8, 8, 2), 4 filters, 3x3x3, same": "every tap reads every input channel: multiply by C_in."},
))
