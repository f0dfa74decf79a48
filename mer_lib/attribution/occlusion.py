"""Occlusion sensitivity (Zeiler and Fergus, ECCV 2014): the drop in a class's probability when a
patch of an input stream, or some of its time steps, is replaced by a baseline."""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

from mer_lib.attribution._base import (_as_dict, _baseline_for, _check_batch, _layout, _predict, _stream_name,
                                        _targets)

__all__ = ["occlusion_space", "occlusion_time"]


def _patch_starts(size, patch, stride):
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:           # the last patch reaches the edge
        starts.append(size - patch)
    return starts


def occlusion_space(model, inputs, target, *, stream=None, patch=8, stride=None, baseline=0.0, batch_size=64,
                    progress=False):
    """Occlusion sensitivity over space: the drop in a class's probability when a patch is replaced.

    A square of ``patch`` x ``patch`` pixels of one input stream, through
    every time step and channel, is replaced by the baseline's values there,
    at every position of a grid with step ``stride`` (the last patch of a row
    or column touches the edge). Each pixel's value is the mean drop
    ``p_c(x) - p_c(x occluded)`` over the patches that cover it.

    Parameters
    ----------
    model : keras.Model
        Returns class probabilities.
    inputs : ndarray or dict of ndarray
        Streams of shape (N, T, H, W, C) or (N, H, W, C).
    target : int or array_like of int, shape (N,)
        The class whose probability is watched, per example (the true class).
    stream : str, optional
        The stream to occlude (required when the model takes several).
    patch : int, default 8
    stride : int, optional
        Default: ``patch`` (patches tile the image).
    baseline : float or ndarray
        What replaces the patch, broadcast to the stream's shape: 0 is the
        mean of a normalised frame stream and "no motion" for a flow stream.
    batch_size : int
        Occluded copies per call of the model.
    progress : bool

    Returns
    -------
    ndarray, shape (N, H, W), float64
        The drop at each pixel (negative where hiding it raises the probability).

    Examples
    --------
    >>> import keras, numpy as np
    >>> x = keras.Input((4, 4, 1)); w = keras.layers.Flatten()(x)
    >>> model = keras.Model(x, keras.layers.Dense(2, activation="softmax")(w))
    >>> occlusion_space(model, np.ones((1, 4, 4, 1)), [0], patch=2).shape
    (1, 4, 4)
    """
    arrays, how = _as_dict(model, inputs)
    name = _stream_name(arrays, stream)
    x = arrays[name]
    _, (ay, ax) = _layout(x, name)
    h, w = x.shape[ay], x.shape[ax]
    stride = patch if stride is None else stride
    for label, value in (("patch", patch), ("stride", stride)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UserInputError(f"{label}: expected a positive integer, got {value!r}")
    if patch > min(h, w):
        raise UserInputError(f"patch: expected at most the stream's size {min(h, w)}, got {patch}")
    batch_size = _check_batch(batch_size)
    n = len(x)
    target = _targets(target, n)
    base = _baseline_for(x, baseline)
    positions = [(r, c) for r in _patch_starts(h, patch, stride) for c in _patch_starts(w, patch, stride)]
    p0 = _predict(model, arrays, how, batch_size)[np.arange(n), target]
    total = np.zeros((n, h, w))
    count = np.zeros((h, w))
    for r, c in positions:
        count[r:r + patch, c:c + patch] += 1
    iterator = range(n)
    if progress:
        from mer_lib.env import progress_bar

        iterator = progress_bar(iterator, desc=f"occlusion of {name!r} over space")
    for i in iterator:
        copies = np.repeat(x[i:i + 1], len(positions), axis=0)
        for j, (r, c) in enumerate(positions):
            index = [j] + [slice(None)] * (x.ndim - 1)
            index[ay], index[ax] = slice(r, r + patch), slice(c, c + patch)
            src = [slice(None)] * (x.ndim - 1)
            src[ay - 1], src[ax - 1] = slice(r, r + patch), slice(c, c + patch)
            copies[tuple(index)] = base[i][tuple(src)]
        batch = {k: (copies if k == name else np.repeat(v[i:i + 1], len(positions), axis=0))
                 for k, v in arrays.items()}
        drops = p0[i] - _predict(model, batch, how, batch_size)[:, target[i]]
        for (r, c), d in zip(positions, drops):
            total[i, r:r + patch, c:c + patch] += d
    return total / count


def occlusion_time(model, inputs, target, *, stream=None, groups=None, baseline=0.0, batch_size=64):
    """Occlusion sensitivity over time: the drop in a class's probability when time steps are replaced.

    Parameters
    ----------
    model : keras.Model
    inputs : ndarray or dict of ndarray
        The occluded stream has shape (N, T, H, W, C).
    target : int or array_like of int, shape (N,)
    stream : str, optional
    groups : sequence of sequences of int, optional
        The time steps hidden together (default: each step alone). For a flow
        stream that stacks T horizontal then T vertical maps, ``[(t, t + T)
        for t in range(T)]`` hides both components of pair t.
    baseline : float or ndarray
        What replaces the hidden steps, broadcast to the stream's shape.
    batch_size : int

    Returns
    -------
    ndarray, shape (N, len(groups)), float64
        ``p_c(x) - p_c(x with the group hidden)``.
    """
    arrays, how = _as_dict(model, inputs)
    name = _stream_name(arrays, stream)
    x = arrays[name]
    at, _ = _layout(x, name)
    if at is None:
        raise UserInputError(f"stream: {name!r} has no time axis (shape {x.shape}); occlude it over space")
    t = x.shape[at]
    groups = [(k,) for k in range(t)] if groups is None else [tuple(int(s) for s in g) for g in groups]
    if not groups or any(not g or min(g) < 0 or max(g) >= t for g in groups):
        raise UserInputError(f"groups: expected non-empty groups of time steps in 0 .. {t - 1}, got {groups}")
    batch_size = _check_batch(batch_size)
    n = len(x)
    target = _targets(target, n)
    base = _baseline_for(x, baseline)
    p0 = _predict(model, arrays, how, batch_size)[np.arange(n), target]
    out = np.zeros((n, len(groups)))
    for i in range(n):
        copies = np.repeat(x[i:i + 1], len(groups), axis=0)
        for j, g in enumerate(groups):
            copies[j, list(g)] = base[i, list(g)]
        batch = {k: (copies if k == name else np.repeat(v[i:i + 1], len(groups), axis=0)) for k, v in arrays.items()}
        out[i] = p0[i] - _predict(model, batch, how, batch_size)[:, target[i]]
    return out
