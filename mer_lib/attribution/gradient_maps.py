"""Gradient maps: integrated gradients (Sundararajan, Taly and Yan, ICML 2017) and Grad-CAM
(Selvaraju et al., ICCV 2017), and :func:`spatial_map`, which turns either into a per-pixel map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mer_lib.errors import UserInputError
from mer_lib.attribution._base import (_as_dict, _baselines, _call_form, _check_batch, _score_model, _target_sum,
                                        _targets, gradients)

__all__ = ["riemann_alphas", "IntegratedGradients", "integrated_gradients", "completeness_by_steps", "grad_cam",
           "spatial_map"]


def riemann_alphas(steps, rule="right"):
    """The points of the path at which integrated gradients evaluates the gradient.

    Parameters
    ----------
    steps : int
        m, the number of gradient evaluations.
    rule : {"right", "midpoint"}
        "right": alpha = k / m for k = 1 .. m, the sum of Sundararajan et al.
        (error of order 1/m); "midpoint": alpha = (k - 1/2) / m (order 1/m^2
        where the gradient is smooth).

    Returns
    -------
    ndarray, shape (steps,)
    """
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise UserInputError(f"steps: expected a positive integer, got {steps!r}")
    k = np.arange(1, steps + 1, dtype=float)
    if rule == "right":
        return k / steps
    if rule == "midpoint":
        return (k - 0.5) / steps
    raise UserInputError(f"rule: expected 'right' or 'midpoint', got {rule!r}")


@dataclass
class IntegratedGradients:
    """What :func:`integrated_gradients` returns.

    Attributes
    ----------
    attributions : dict of str to ndarray
        Per stream, of the stream's shape (N, ...): (x - x') times the
        path-averaged gradient, keyed by the model's input names.
    score_input, score_baseline : ndarray, shape (N,)
        The explained score at the input and at the baseline.
    gap : ndarray, shape (N,)
        ``sum of all attributions - (score_input - score_baseline)``: zero for
        the exact integral (completeness); the Riemann sum's error.
    """

    attributions: dict
    score_input: np.ndarray
    score_baseline: np.ndarray
    gap: np.ndarray

    def total(self):
        """The attributions summed over every stream and element, per example: shape (N,)."""
        return sum(a.reshape(len(a), -1).sum(axis=1) for a in self.attributions.values())

    def relative_gap(self):
        """``|gap| / |score_input - score_baseline|`` per example, shape (N,): the share of the change missed.

        Completeness holds when it is near 0; NaN where the score did not change.
        """
        change = np.abs(self.score_input - self.score_baseline)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(change > 0, np.abs(self.gap) / np.where(change > 0, change, 1.0), np.nan)


def completeness_by_steps(model, inputs, target, steps=(8, 16, 32, 64), tolerance=None, **kwargs):
    """The completeness gap of integrated gradients for several step counts, to choose one by measuring.

    Parameters
    ----------
    model : keras.Model
    inputs : ndarray or dict of ndarray, N examples first
        A few examples suffice: the cost is ``sum(steps)`` gradients per example.
    target : int or array_like of int, shape (N,)
    steps : sequence of int
        Increasing.
    tolerance : float, optional
        Stop after the first step count whose median relative gap is at
        most ``tolerance`` (the larger counts are not computed).
    **kwargs
        Passed to :func:`integrated_gradients` (``baseline``, ``rule``, ``score``, ``batch_size``).

    Returns
    -------
    dict of int to ndarray, shape (N,)
        Steps -> :meth:`IntegratedGradients.relative_gap` of each example.
    """
    steps = [int(m) for m in steps]
    if not steps or any(m < 1 for m in steps) or sorted(set(steps)) != steps:
        raise UserInputError(f"steps: expected increasing positive integers, got {steps}")
    out = {}
    for m in steps:
        out[m] = integrated_gradients(model, inputs, target, steps=m, **kwargs).relative_gap()
        if tolerance is not None and np.nanmedian(out[m]) <= tolerance:
            break
    return out


def integrated_gradients(model, inputs, target, *, baseline=0.0, steps=32, rule="midpoint", score="probability",
                         batch_size=32, progress=False):
    """Integrated gradients of a class score, for every stream at once.

    ``IG_i(x) = (x_i - x'_i) * integral_0^1 dF/dx_i (x' + a (x - x')) da``,
    estimated by a Riemann sum over ``steps`` points of the straight path
    from the baseline x' to the input x (all streams move together).

    Parameters
    ----------
    model : keras.Model
    inputs : ndarray or dict of ndarray
    target : int or array_like of int, shape (N,)
    baseline : float, ndarray or dict
        x', broadcast to each stream (a dict gives one per stream).
    steps : int, default 32
    rule : {"midpoint", "right"}
        See :func:`riemann_alphas`.
    score : {"probability", "logit"}
        F: the target class's probability, or its logit.
    batch_size : int
        Path points per gradient call.
    progress : bool

    Returns
    -------
    IntegratedGradients
    """
    from keras import ops

    arrays, how = _as_dict(model, inputs)
    n = len(next(iter(arrays.values())))
    target = _targets(target, n)
    bases = _baselines(arrays, baseline)
    alphas = riemann_alphas(steps, rule).astype(np.float32)
    batch_size = _check_batch(batch_size)
    net, head = _score_model(model, score)

    def scores_of(tensors):
        out = net(_call_form(tensors, how), training=False)
        return out if head is None else ops.matmul(out, head.kernel) + head.bias

    def evaluate(chunk):
        return ops.convert_to_numpy(scores_of({k: ops.convert_to_tensor(v) for k, v in chunk.items()}))

    ends = {}
    for label, source in (("input", arrays), ("baseline", bases)):
        values = []
        for start in range(0, n, batch_size):
            values.append(evaluate({k: np.ascontiguousarray(v[start:start + batch_size]) for k, v in source.items()}))
        ends[label] = np.concatenate(values)[np.arange(n), target].astype(np.float64)
    attributions = {k: np.zeros(v.shape) for k, v in arrays.items()}
    iterator = range(n)
    if progress:
        from mer_lib.env import progress_bar

        iterator = progress_bar(iterator, desc="integrated gradients")
    for i in iterator:
        grad_sum = {k: np.zeros(v.shape[1:]) for k, v in arrays.items()}
        for start in range(0, len(alphas), batch_size):
            a = alphas[start:start + batch_size]
            path = {k: bases[k][i][None] + a.reshape((len(a),) + (1,) * (v.ndim - 1)) * (v[i] - bases[k][i])[None]
                    for k, v in arrays.items()}
            g = gradients(lambda t, c=target[i]: _target_sum(scores_of(t), np.full(len(a), c)), path)
            for k in grad_sum:
                grad_sum[k] += g[k].sum(axis=0)
        for k, v in arrays.items():
            attributions[k][i] = (v[i] - bases[k][i]) * grad_sum[k] / len(alphas)
    result = IntegratedGradients(attributions, ends["input"], ends["baseline"], np.zeros(n))
    result.gap = result.total() - (result.score_input - result.score_baseline)
    return result


# ------------------------------------------------------------------------------------------------ Grad-CAM
def grad_cam(model, inputs, target, layer, *, score="logit", batch_size=32):
    """Grad-CAM: a convolution layer's filters weighted by the class score's mean gradient, rectified.

    For the layer's activations ``A[..., k]`` (channels last) and the class
    score ``y`` (its logit by default, as Selvaraju et al.), the weight of
    filter k is ``alpha_k = mean over positions of dy/dA[..., k]`` and the
    map is ``ReLU(sum_k alpha_k A[..., k])``, on the layer's grid.

    Parameters
    ----------
    model : keras.Model
        A functional model.
    inputs : ndarray or dict of ndarray
    target : int or array_like of int, shape (N,)
    layer : str
        The name of a layer whose output is (N, ..., K), channels last (for
        the two-stream network: ``conv3d_channels_last_1`` and ``_2`` of the
        paper's variant, ``conv3d_1`` and ``_2`` of the corrected one).
    score : {"logit", "probability"}
    batch_size : int

    Returns
    -------
    ndarray, shape (N, ...)
        The map on the layer's grid, channels summed away (for the paper's
        stream layers: (N, H, W, T), time last).
    """
    import keras
    from keras import ops

    arrays, how = _as_dict(model, inputs)
    try:
        chosen = model.get_layer(layer)
    except ValueError:
        raise UserInputError(f"layer: the model has no layer named {layer!r}; its layers: "
                             f"{[lay.name for lay in model.layers]}") from None
    n = len(next(iter(arrays.values())))
    target = _targets(target, n)
    batch_size = _check_batch(batch_size)
    activation_symbol = chosen.output
    features = keras.Model(model.input, activation_symbol)
    form, names = how
    symbols = [model.input[k] for k in names] if form == "dict" else list(model.inputs)
    net, head = _score_model(model, score, [activation_symbol] + symbols)

    def score_of(tensors, rest, c):
        out = net([tensors["activation"]] + [rest[k] for k in names], training=False)
        out = out if head is None else ops.matmul(out, head.kernel) + head.bias
        return _target_sum(out, c)

    maps = []
    for start in range(0, n, batch_size):
        chunk = {k: v[start:start + batch_size] for k, v in arrays.items()}
        acts = ops.convert_to_numpy(features(_call_form(chunk, how), training=False)).astype(np.float32)
        rest = {k: ops.convert_to_tensor(v) for k, v in chunk.items()}
        g = gradients(lambda t: score_of(t, rest, target[start:start + batch_size]), {"activation": acts})
        g = g["activation"]
        weights = g.reshape(len(g), -1, g.shape[-1]).mean(axis=1)           # (n, K)
        cam = np.einsum("n...k,nk->n...", acts.astype(np.float64), weights)
        maps.append(np.maximum(cam, 0.0))
    return np.concatenate(maps)


def spatial_map(values, *, time_axis=None, absolute=False, size=None):
    """A per-pixel map from an attribution: channels and, optionally, time summed away.

    Parameters
    ----------
    values : ndarray
        (N, T, H, W, C) with ``time_axis=1``, (N, H, W, C), (N, H, W, T) with
        ``time_axis=3`` (a Grad-CAM map of the paper's stream layers), or
        (N, H, W).
    time_axis : int, optional
        The axis summed over besides the channels.
    absolute : bool
        Sum magnitudes (for signed attributions such as integrated gradients).
    size : int, optional
        Stretch each map to ``size`` x ``size`` pixels by bilinear
        interpolation, pixel centres aligned (OpenCV's ``resize``): a Grad-CAM
        map on a pooled layer's coarse grid, brought to the input's size as
        Selvaraju et al. do, so that it can be compared with a region at that
        size. Default: the map's own size.

    Returns
    -------
    ndarray, shape (N, H, W), or (N, size, size)

    Examples
    --------
    >>> spatial_map(np.ones((2, 5, 5, 4)), size=20).shape
    (2, 20, 20)
    """
    v = np.abs(values) if absolute else np.asarray(values, dtype=np.float64)
    if time_axis is not None:
        v = v.sum(axis=time_axis)
    if v.ndim == 4:
        v = v.sum(axis=-1)
    if v.ndim != 3:
        raise UserInputError(f"values: expected (N, H, W) once time and channels are summed, got shape {v.shape}")
    if size is None:
        return v
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise UserInputError(f"size: expected a positive integer, got {size!r}")
    if v.shape[1:] == (size, size):
        return v
    import cv2

    return np.stack([cv2.resize(m, (int(size), int(size)), interpolation=cv2.INTER_LINEAR) for m in v])
