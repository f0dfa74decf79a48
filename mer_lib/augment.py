"""Augmentation that respects the physics of each input: a mirrored clip's horizontal flow is negated."""

from __future__ import annotations

import numpy as np

__all__ = ["flip_horizontal", "augment", "augmentation_draws", "epoch_order", "epoch_augmentation"]


def flip_horizontal(x, kind="frames"):
    """Mirror clips left-right, as the physics of each input requires.

    A mirrored face moves the mirrored way: the horizontal flow of a flipped
    clip is the flipped horizontal flow *negated*; the vertical flow is only
    flipped.

    Parameters
    ----------
    x : ndarray, shape (..., T, H, W, 1)
        Frames, or a flow stream input: its first half along T holds the
        horizontal maps u, the second half the vertical maps v (as
        :func:`mer_lib.pipeline.preprocess` stacks them).
    kind : {"frames", "flow"}

    Returns
    -------
    ndarray, the shape of ``x``

    Examples
    --------
    >>> import numpy as np
    >>> flow = np.zeros((2, 1, 3, 1)); flow[0, 0, 0] = 1.0   # u = 1 at the left edge
    >>> flip_horizontal(flow, "flow")[0, 0, :, 0] == [0, 0, -1]   # now at the right edge, moving left
    array([ True,  True,  True])
    """
    x = np.asarray(x)
    if x.ndim < 4 or x.shape[-1] != 1:
        raise ValueError(f"x must have shape (..., T, H, W, 1), got {x.shape}")
    if kind not in ("frames", "flow"):
        raise ValueError(f"kind must be 'frames' or 'flow', got {kind!r}")
    out = x[..., ::-1, :].copy()
    if kind == "flow":
        t2 = x.shape[-4]
        if t2 % 2:
            raise ValueError(f"a flow input stacks T horizontal then T vertical maps: an even length, got {t2}")
        out[..., : t2 // 2, :, :, :] *= -1
    return out


def _shift(x, dy, dx):
    """Translate (T, H, W, 1) by whole pixels, repeating the edge."""
    h, w = x.shape[1:3]
    pad = ((0, 0), (max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)), (0, 0))
    padded = np.pad(x, pad, mode="edge")
    y0, x0 = max(-dy, 0), max(-dx, 0)
    return padded[:, y0:y0 + h, x0:x0 + w]


def augment(inputs, rng, shift=4):
    """A random horizontal flip (half the clips) and a random shift of each clip.

    The same flip and shift are applied to a clip's frames and its flow; the
    flow's horizontal component is negated when flipped (see
    :func:`flip_horizontal`). Inputs under the key ``"flow"`` are flow; any
    other key, or a plain array, is frames.

    Parameters
    ----------
    inputs : ndarray of shape (N, T, H, W, 1), or dict of such arrays
    rng : numpy.random.Generator
    shift : int
        Largest shift in pixels, each direction.

    Returns
    -------
    ndarray or dict, like ``inputs`` (new arrays)
    """
    as_dict = isinstance(inputs, dict)
    items = inputs if as_dict else {"frames": inputs}
    n = len(next(iter(items.values())))
    flips, moves = augmentation_draws(n, rng, shift)
    out = {}
    for key, x in items.items():
        kind = "flow" if key == "flow" else "frames"
        y = np.array(x, copy=True)
        if flips.any():
            y[flips] = flip_horizontal(y[flips], kind)
        for i in np.flatnonzero(moves.any(axis=1)):
            y[i] = _shift(y[i], int(moves[i, 0]), int(moves[i, 1]))
        out[key] = y
    return out if as_dict else out["frames"]


def augmentation_draws(n, rng, shift=4):
    """The random draws of :func:`augment`: which clips are flipped, and each clip's shift.

    Parameters
    ----------
    n : int
        Clips.
    rng : numpy.random.Generator
    shift : int
        Largest shift in pixels, each direction.

    Returns
    -------
    flips : ndarray of bool, shape (n,)
    moves : ndarray of int, shape (n, 2)
        (dy, dx) of each clip, in ``-shift .. shift``.
    """
    flips = rng.random(n) < 0.5
    moves = rng.integers(-shift, shift + 1, size=(n, 2)) if shift > 0 else np.zeros((n, 2), int)
    return flips, moves


def epoch_order(seed, epoch, n):
    """The order in which a run sees its ``n`` training clips in an epoch: a function of (seed, epoch) only.

    So a resumed run sees the same batches, and the batched trainer the same
    as :func:`mer_lib.train.train`.

    Returns
    -------
    ndarray of int, shape (n,)
    """
    return np.random.default_rng([int(seed), int(epoch)]).permutation(int(n))


def epoch_augmentation(seed, epoch, n, shift):
    """The flips and shifts of an epoch's clips (in the epoch's order), a function of (seed, epoch) only.

    Returns
    -------
    flips : ndarray of bool, shape (n,)
    moves : ndarray of int, shape (n, 2)
    """
    return augmentation_draws(int(n), np.random.default_rng([int(seed), int(epoch), 1]), shift)
