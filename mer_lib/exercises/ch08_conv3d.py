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
            "which tap of the kernel multiplies window[0, 0, 0]? Keras' Conv3D does not flip the kernel.",
            "a 3x3x3 window with 2 channels and 4 filters":
            "one number per output filter: which axes does your sum run over?"},
))


def conv3d_by_loops(x, kernel, padding="valid"):
    """A stride-1 3D convolution layer (Keras' cross-correlation) of one example, without bias.

    x (D, H, W, C_in), kernel (kd, kh, kw, C_in, F) -> (D', H', W', F); "same" pads
    zeros as TensorFlow does (the smaller half before). Computed here with
    ``scipy.signal.correlate``, independently of ``mer_lib.nn``.
    """
    from scipy.signal import correlate

    x, kernel = np.asarray(x, float), np.asarray(kernel, float)
    if padding == "same":
        pads = [nn.same_padding(n, k, 1) for n, k in zip(x.shape[:3], kernel.shape[:3])] + [(0, 0)]
        x = np.pad(x, pads)
    out = [sum(correlate(x[..., c], kernel[..., c, f], mode="valid") for c in range(x.shape[3]))
           for f in range(kernel.shape[4])]
    return np.stack(out, axis=-1)


def _loop_cases():
    rng = np.random.default_rng(81)
    ramp = np.arange(5.0).reshape(1, 1, 5, 1)
    return [
        Case("a 1x1x1 kernel (each value times 3)", (rng.random((2, 3, 4, 1)), np.full((1, 1, 1, 1, 1), 3.0))),
        Case("an asymmetric 1x1x3 kernel on a ramp, valid", (ramp, np.array([1.0, 0, 0]).reshape(1, 1, 3, 1, 1))),
        Case("2 channels, 3 filters, 2x3x3 kernel, valid",
             (rng.standard_normal((4, 5, 6, 2)), rng.standard_normal((2, 3, 3, 2, 3)))),
        Case("a 3x3x3 kernel, same", (rng.standard_normal((4, 5, 6, 1)), rng.standard_normal((3, 3, 3, 1, 2))),
             {"padding": "same"}),
        Case("an even 2x2x4 kernel, same (uneven padding)",
             (rng.standard_normal((3, 4, 7, 2)), rng.standard_normal((2, 2, 4, 2, 2))), {"padding": "same"}),
        Case("8 frames, a 1x1x15 kernel in time, same (the paper's depth)",
             (rng.standard_normal((2, 2, 8, 1)), rng.standard_normal((1, 1, 15, 1, 1))), {"padding": "same"}),
    ]


register(Exercise(
    name="conv3d.conv3d_by_loops", cases=_loop_cases, reference=conv3d_by_loops, rtol=1e-6, atol=1e-9,
    advice={"a 1x1x1 kernel (each value times 3)": "check the output's shape first: (D', H', W', F), one value "
                                                   "per position and filter.",
            "an asymmetric 1x1x3 kernel on a ramp, valid": "which input value does tap 0 of the kernel multiply "
                                                           "at output 0? Keras does not flip the kernel.",
            "2 channels, 3 filters, 2x3x3 kernel, valid": "each output filter sums over every input channel; "
                                                          "look at the axis your sum runs over.",
            "a 3x3x3 kernel, same": "with 'same' the output has the input's size: how many zeros go on each side?",
            "an even 2x2x4 kernel, same (uneven padding)": "an even kernel cannot be padded evenly: which side "
                                                           "gets the extra zero in TensorFlow?",
            "8 frames, a 1x1x15 kernel in time, same (the paper's depth)": "the kernel is longer than the clip: "
                                                                           "count the zeros 'same' adds before "
                                                                           "and after."},
))


def conv3d_backward(x, kernel, grad_out):
    """The backward pass of a 'valid', stride-1 conv3d without bias, for one example.

    x (D, H, W, C_in), kernel (kd, kh, kw, C_in, F), grad_out (D', H', W', F) = dL/dy ->
    (dL/dx of x's shape, dL/dkernel of the kernel's shape). dL/dkernel is the correlation of the input
    with the output gradient; dL/dx is the full convolution of the output gradient with the kernel.
    Computed here with ``scipy.signal``, independently of loops.
    """
    from scipy.signal import convolve, correlate

    x, kernel, grad_out = (np.asarray(a, float) for a in (x, kernel, grad_out))
    n_in, n_out = x.shape[3], kernel.shape[4]
    grad_kernel = np.empty_like(kernel)
    for m in range(n_in):
        for f in range(n_out):
            grad_kernel[..., m, f] = correlate(x[..., m], grad_out[..., f], mode="valid")
    grad_x = np.stack([sum(convolve(grad_out[..., f], kernel[..., m, f], mode="full") for f in range(n_out))
                       for m in range(n_in)], axis=-1)
    return grad_x, grad_kernel


def _backward_cases():
    rng = np.random.default_rng(82)
    ramp = np.arange(5.0).reshape(1, 1, 5, 1)
    x = rng.standard_normal((3, 4, 5, 2))
    k = rng.standard_normal((2, 2, 3, 2, 3))
    return [Case("a 1x1x1 kernel of 3, the loss the sum of the outputs",
                 (rng.random((2, 2, 3, 1)), np.full((1, 1, 1, 1, 1), 3.0), np.ones((2, 2, 3, 1)))),
            Case("an asymmetric 1x1x3 kernel on a ramp, one output gradient of 1",
                 (ramp, np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3, 1, 1), np.array([0.0, 1.0, 0.0]).reshape(1, 1, 3, 1))),
            Case("2 channels, 3 filters, a 2x2x3 kernel, random output gradient",
                 (x, k, rng.standard_normal((2, 3, 3, 3)))),
            Case("a kernel as large as the input (one output per filter)",
                 (rng.standard_normal((2, 3, 3, 1)), rng.standard_normal((2, 3, 3, 1, 2)), rng.standard_normal((1, 1, 1, 2)))),
            Case("8 frames, a 1x1x5 kernel in time", (rng.standard_normal((1, 2, 8, 1)), rng.standard_normal((1, 1, 5, 1, 1)),
                                                       rng.standard_normal((1, 2, 4, 1))))]


register(Exercise(
    name="conv3d.conv3d_backward", cases=_backward_cases, reference=conv3d_backward, rtol=1e-6, atol=1e-9,
    advice={"a 1x1x1 kernel of 3, the loss the sum of the outputs": "return (grad_x, grad_kernel) in that order, "
                                                                   "grad_x of x's shape and grad_kernel of the "
                                                                   "kernel's shape.",
            "an asymmetric 1x1x3 kernel on a ramp, one output gradient of 1": "one output, y[1], received the "
                                                                              "gradient: which inputs did y[1] "
                                                                              "read, through which taps? Each "
                                                                              "of them gets that tap's weight.",
            "2 channels, 3 filters, a 2x2x3 kernel, random output gradient": "an input value feeds every filter: "
                                                                             "its gradient sums over the filters; "
                                                                             "a tap's gradient sums over every "
                                                                             "output position.",
            "a kernel as large as the input (one output per filter)": "with one output position, the kernel's "
                                                                      "gradient is the input times that "
                                                                      "output's gradient.",
            "8 frames, a 1x1x5 kernel in time": "count how many output positions read the first and the last "
                                                "frame: their gradients come from fewer terms."},
))
