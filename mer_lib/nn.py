"""3D convolution and max pooling from scratch in NumPy, with Keras' conventions.

Chapter ``book/08_conv3d.md`` builds these step by step. Conventions, as in
Keras' ``Conv3D`` and ``MaxPooling3D`` (``data_format="channels_last"``):

- input ``x`` of shape (N, D, H, W, C): batch, depth (time), height, width,
  channels;
- kernel of shape (kd, kh, kw, C_in, C_out);
- the layer computes a cross-correlation: the kernel is not flipped;
- ``padding="valid"`` keeps only full windows, giving ``floor((n - k) / s) + 1``
  outputs per axis; ``padding="same"`` pads with zeros (``-inf`` for pooling)
  so that there are ``ceil(n / s)`` outputs, the smaller half of the padding
  before and the larger after, as TensorFlow does.

Each operation comes twice: ``conv3d_loops`` is the readable version (a loop
over output positions), ``conv3d`` the vectorised one; the tests check each
against the other and against Keras.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "conv3d", "conv3d_loops", "max_pool3d", "max_pool3d_loops",
    "output_length", "same_padding", "conv3d_macs", "dense_macs", "layer_macs",
]


def _triple(value, name: str) -> tuple[int, int, int]:
    if np.isscalar(value):
        value = (value,) * 3
    value = tuple(int(v) for v in value)
    if len(value) != 3 or any(v < 1 for v in value):
        raise ValueError(f"{name} must be a positive int or 3 positive ints, got {value!r}")
    return value


def _check_padding(padding: str) -> str:
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding


def output_length(n: int, k: int, s: int, padding: str) -> int:
    """Number of outputs along one axis.

    Parameters
    ----------
    n : int
        Input length along the axis.
    k : int
        Window (kernel or pool) length.
    s : int
        Stride.
    padding : {"valid", "same"}

    Returns
    -------
    int
        ``floor((n - k) / s) + 1`` for "valid" (0 when the window does not fit),
        ``ceil(n / s)`` for "same".
    """
    if _check_padding(padding) == "same":
        return math.ceil(n / s)
    return max((n - k) // s + 1, 0)


def same_padding(n: int, k: int, s: int) -> tuple[int, int]:
    """Zeros added (before, after) along one axis for "same" padding (TensorFlow's rule).

    Parameters
    ----------
    n, k, s : int
        Input length, window length, stride.

    Returns
    -------
    tuple of int
        (before, after), with ``after - before`` equal to 0 or 1.
    """
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _validate_x(x, name="x") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 5:
        raise ValueError(f"{name} must have shape (N, D, H, W, C), got an array of shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
    return x


def _pad(x: np.ndarray, window, strides, padding: str, value: float) -> np.ndarray:
    if padding == "valid":
        return x
    pads = [(0, 0)] + [same_padding(n, k, s) for n, k, s in zip(x.shape[1:4], window, strides)] + [(0, 0)]
    return np.pad(x, pads, constant_values=value)


def _prepare_conv(x, kernel, bias, strides, padding):
    x = _validate_x(x)
    kernel = np.asarray(kernel)
    if kernel.ndim != 5:
        raise ValueError(f"kernel must have shape (kd, kh, kw, C_in, C_out), got {kernel.shape}")
    if kernel.shape[3] != x.shape[4]:
        raise ValueError(f"kernel has {kernel.shape[3]} input channels but x has {x.shape[4]} "
                         f"(x {x.shape}, kernel {kernel.shape})")
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (kernel.shape[4],):
            raise ValueError(f"bias must have shape ({kernel.shape[4]},), got {bias.shape}")
    strides = _triple(strides, "strides")
    _check_padding(padding)
    for axis, (n, k) in enumerate(zip(x.shape[1:4], kernel.shape[:3])):
        if padding == "valid" and k > n:
            raise ValueError(f"kernel size {k} exceeds the input size {n} along axis {axis + 1} "
                             "with padding='valid'")
    dtype = np.result_type(x.dtype, kernel.dtype, np.float32)
    return x.astype(dtype, copy=False), kernel.astype(dtype, copy=False), bias, strides


def conv3d_loops(x, kernel, bias=None, strides=1, padding="valid"):
    """3D convolution (cross-correlation) written as loops over output positions.

    The readable version: for each output position, take the input window
    under the kernel and sum its product with the kernel over the window and the
    input channels, once per filter.

    Parameters
    ----------
    x : array_like, shape (N, D, H, W, C_in)
    kernel : array_like, shape (kd, kh, kw, C_in, C_out)
    bias : array_like, shape (C_out,), optional
    strides : int or tuple of 3 ints
    padding : {"valid", "same"}

    Returns
    -------
    ndarray, shape (N, D', H', W', C_out)
        With D', H', W' given by :func:`output_length`.
    """
    x, kernel, bias, strides = _prepare_conv(x, kernel, bias, strides, padding)
    kd, kh, kw, _, c_out = kernel.shape
    xp = _pad(x, (kd, kh, kw), strides, padding, 0.0)
    sd, sh, sw = strides
    out_shape = [output_length(n, k, s, padding) for n, k, s in zip(x.shape[1:4], (kd, kh, kw), strides)]
    out = np.zeros((x.shape[0], *out_shape, c_out), dtype=x.dtype)
    for n in range(x.shape[0]):
        for d in range(out_shape[0]):
            for i in range(out_shape[1]):
                for j in range(out_shape[2]):
                    window = xp[n, d * sd:d * sd + kd, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
                    for f in range(c_out):
                        out[n, d, i, j, f] = np.sum(window * kernel[..., f])
    if bias is not None:
        out += bias
    return out


def conv3d(x, kernel, bias=None, strides=1, padding="valid"):
    """3D convolution (cross-correlation), vectorised with a sliding-window view.

    All windows are viewed at once without copying
    (``numpy.lib.stride_tricks.sliding_window_view``), and the sum over each
    window and the input channels becomes one ``tensordot`` with the kernel.

    Parameters
    ----------
    x : array_like, shape (N, D, H, W, C_in)
    kernel : array_like, shape (kd, kh, kw, C_in, C_out)
    bias : array_like, shape (C_out,), optional
    strides : int or tuple of 3 ints
    padding : {"valid", "same"}

    Returns
    -------
    ndarray, shape (N, D', H', W', C_out)
        Equal to Keras' ``Conv3D`` with the same weights (float32: rtol 1e-5).

    Examples
    --------
    >>> x = np.ones((4, 28, 28, 28, 1), np.float32)
    >>> conv3d(x, np.ones((3, 3, 3, 1, 2), np.float32)).shape
    (4, 26, 26, 26, 2)
    """
    x, kernel, bias, strides = _prepare_conv(x, kernel, bias, strides, padding)
    kd, kh, kw = kernel.shape[:3]
    xp = _pad(x, (kd, kh, kw), strides, padding, 0.0)
    # windows: (N, D', H', W', C_in, kd, kh, kw) before striding
    windows = sliding_window_view(xp, (kd, kh, kw), axis=(1, 2, 3))
    windows = windows[:, ::strides[0], ::strides[1], ::strides[2]]
    out = np.tensordot(windows, kernel, axes=([4, 5, 6, 7], [3, 0, 1, 2]))
    if bias is not None:
        out += bias
    return out


def _prepare_pool(x, pool_size, strides, padding):
    x = _validate_x(x)
    pool = _triple(pool_size, "pool_size")
    strides = pool if strides is None else _triple(strides, "strides")
    _check_padding(padding)
    for axis, (n, k) in enumerate(zip(x.shape[1:4], pool)):
        if padding == "valid" and k > n:
            raise ValueError(f"pool size {k} exceeds the input size {n} along axis {axis + 1} "
                             "with padding='valid'")
    return x, pool, strides


def max_pool3d_loops(x, pool_size, strides=None, padding="valid"):
    """3D max pooling written as loops over output positions.

    Parameters
    ----------
    x : array_like, shape (N, D, H, W, C)
    pool_size : int or tuple of 3 ints
    strides : int or tuple of 3 ints, optional
        Defaults to ``pool_size`` (non-overlapping windows), as in Keras.
    padding : {"valid", "same"}

    Returns
    -------
    ndarray, shape (N, D', H', W', C)
    """
    x, pool, strides = _prepare_pool(x, pool_size, strides, padding)
    xp = _pad(x.astype(np.result_type(x.dtype, np.float32)), pool, strides, padding, -np.inf)
    out_shape = [output_length(n, k, s, padding) for n, k, s in zip(x.shape[1:4], pool, strides)]
    out = np.empty((x.shape[0], *out_shape, x.shape[4]), dtype=xp.dtype)
    (pd, ph, pw), (sd, sh, sw) = pool, strides
    for d in range(out_shape[0]):
        for i in range(out_shape[1]):
            for j in range(out_shape[2]):
                window = xp[:, d * sd:d * sd + pd, i * sh:i * sh + ph, j * sw:j * sw + pw, :]
                out[:, d, i, j, :] = window.max(axis=(1, 2, 3))
    return out


def max_pool3d(x, pool_size, strides=None, padding="valid"):
    """3D max pooling, vectorised with a sliding-window view.

    Parameters
    ----------
    x : array_like, shape (N, D, H, W, C)
    pool_size : int or tuple of 3 ints
    strides : int or tuple of 3 ints, optional
        Defaults to ``pool_size``, as in Keras' ``MaxPooling3D``.
    padding : {"valid", "same"}
        "same" pads with -inf, so padded cells never win.

    Returns
    -------
    ndarray, shape (N, D', H', W', C)

    Examples
    --------
    >>> max_pool3d(np.zeros((1, 32, 64, 64, 8)), 3).shape
    (1, 10, 21, 21, 8)
    """
    x, pool, strides = _prepare_pool(x, pool_size, strides, padding)
    xp = _pad(x.astype(np.result_type(x.dtype, np.float32)), pool, strides, padding, -np.inf)
    windows = sliding_window_view(xp, pool, axis=(1, 2, 3))[:, ::strides[0], ::strides[1], ::strides[2]]
    return windows.max(axis=(5, 6, 7))


def conv3d_macs(input_shape, filters, kernel_size, strides=1, padding="valid") -> int:
    """Multiply-adds of one Conv3D layer for one example.

    Each output value costs ``kd * kh * kw * C_in`` multiply-adds (the bias
    add is not counted).

    Parameters
    ----------
    input_shape : tuple of 4 ints
        (D, H, W, C_in) of one example.
    filters : int
        C_out.
    kernel_size, strides : int or tuple of 3 ints
    padding : {"valid", "same"}

    Returns
    -------
    int

    Examples
    --------
    >>> conv3d_macs((64, 64, 8, 1), 32, (3, 3, 15), padding="same")
    141557760
    """
    if len(input_shape) != 4:
        raise ValueError(f"input_shape must be (D, H, W, C_in), got {input_shape!r}")
    k = _triple(kernel_size, "kernel_size")
    s = _triple(strides, "strides")
    outs = [output_length(n, kk, ss, padding) for n, kk, ss in zip(input_shape[:3], k, s)]
    return int(np.prod(outs)) * int(filters) * int(np.prod(k)) * int(input_shape[3])


def dense_macs(units_in: int, units_out: int) -> int:
    """Multiply-adds of a Dense layer for one example: ``units_in * units_out``."""
    return int(units_in) * int(units_out)


def layer_macs(layer) -> int:
    """Multiply-adds of a built Keras layer for one example (Conv2D, Conv3D, Dense; 0 otherwise).

    Parameters
    ----------
    layer : keras.layers.Layer
        A layer of a built model.

    Returns
    -------
    int
    """
    kind = type(layer).__name__
    if kind in ("Conv3D", "Conv2D"):
        out = layer.output.shape[1:]
        kernel = layer.kernel.shape  # (*k, C_in, C_out)
        return int(np.prod(out)) * int(np.prod(kernel[:-1]))
    if kind == "Dense":
        return dense_macs(layer.kernel.shape[0], layer.kernel.shape[1])
    return 0
