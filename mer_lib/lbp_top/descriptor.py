"""LBP and LBP-TOP codes, labels and block histograms (Zhao & Pietikäinen, IEEE TPAMI 29(6), 2007).

A local binary pattern (LBP) compares a pixel ``g_c`` with ``P`` neighbours
``g_p`` sampled on a circle (an ellipse here) around it, and writes the signs
as the bits of a code, ``sum_p s(g_p - g_c) 2^p`` with ``s(x) = 1`` for
``x >= 0``. Neighbour ``p`` sits at angle ``2 pi p / P``, counter-clockwise
from the column axis: ``(row, col) = (-r_row sin, r_col cos)`` of that angle,
sampled by bilinear interpolation (scikit-image's convention, so that the codes
compare one for one with ``skimage.feature.local_binary_pattern``).

LBP-TOP computes such codes on the three planes through every voxel of a clip
``V[t, y, x]``: XY (the texture of a frame), XT and YT (how a row and a column
change in time), and keeps one histogram of codes per plane and per block of
the face. Only the voxels whose three neighbourhoods lie wholly inside the clip
are counted, the same ones on every plane.
"""

from __future__ import annotations

import math

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["METHODS", "PLANES", "circle_offsets", "transitions", "pattern_labels", "n_labels", "lbp_2d",
           "lbp_top", "block_edges", "block_histograms", "lbp_top_histograms", "plane_features"]

#: How raw codes are labelled: every code itself ("default", 2^P labels); rotation-invariant
#: uniform patterns ("uniform", P + 2 labels: the number of ones, or P + 1 when not uniform);
#: uniform patterns kept apart by rotation ("nri_uniform", P (P - 1) + 3 labels).
METHODS = ("default", "uniform", "nri_uniform")
#: The three orthogonal planes, in the order of every array of this module.
PLANES = ("xy", "xt", "yt")
_SNAP = 1e-9   # offsets this close to an integer are that integer: no sample of weight ~0 outside the image
_TIE = 1e-9    # differences below this share of the largest grey level are ties (rounding, not texture)


def _check_points(n_points):
    if not isinstance(n_points, (int, np.integer)) or not 1 <= n_points <= 16:
        raise UserInputError(f"n_points: expected an integer from 1 to 16, got {n_points!r}")
    return int(n_points)


def _check_method(method):
    if method not in METHODS:
        raise UserInputError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    return method


def _check_radius(name, r):
    try:
        r = float(r)
    except (TypeError, ValueError):
        raise UserInputError(f"{name}: expected a positive number of pixels (or frames), got {r!r}") from None
    if not (r > 0 and math.isfinite(r)):
        raise UserInputError(f"{name}: expected a positive number of pixels (or frames), got {r!r}")
    return r


def circle_offsets(n_points, radius_row, radius_col):
    """Where the neighbours of a local binary pattern are sampled, relative to the centre.

    Parameters
    ----------
    n_points : int
        P, the number of neighbours (1 to 16).
    radius_row, radius_col : float
        Semi-axes of the ellipse along rows and columns (equal: a circle). On
        an XT or YT plane the rows are time, so ``radius_row`` is in frames.

    Returns
    -------
    ndarray, shape (P, 2), float
        ``(d_row, d_col)`` of neighbour p, at angle ``2 pi p / P``:
        ``(-radius_row sin, radius_col cos)``; p = 0 is to the right, p = P/4
        above. Values within 1e-9 of an integer are that integer.

    Examples
    --------
    >>> circle_offsets(4, 1, 1)
    array([[ 0.,  1.],
           [-1.,  0.],
           [ 0., -1.],
           [ 1.,  0.]])
    """
    n_points = _check_points(n_points)
    radius_row, radius_col = _check_radius("radius_row", radius_row), _check_radius("radius_col", radius_col)
    angle = 2 * np.pi * np.arange(n_points) / n_points
    off = np.stack([-radius_row * np.sin(angle), radius_col * np.cos(angle)], axis=1)
    near = np.abs(off - np.round(off)) < _SNAP
    off[near] = np.round(off[near])
    return off + 0.0   # no -0.0


def transitions(codes, n_points):
    """The number of 0/1 changes around the circle of each code (the uniformity measure U).

    Parameters
    ----------
    codes : int or array_like of int
        Raw codes in 0 .. 2^P - 1 (bit p: neighbour p).
    n_points : int
        P.

    Returns
    -------
    int or ndarray of int, the shape of ``codes``
        U, always even; a pattern is *uniform* when U <= 2.

    Examples
    --------
    >>> transitions([0b00000000, 0b00011100, 0b01010000, 0b10000001], 8)
    array([0, 2, 4, 2])
    """
    n_points = _check_points(n_points)
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= 2 ** n_points):
        raise UserInputError(f"codes: expected integers in 0 .. {2 ** n_points - 1} for n_points={n_points}")
    bits = (codes[..., None] >> np.arange(n_points)) & 1
    changes = (bits != np.roll(bits, -1, axis=-1)).sum(axis=-1)
    return int(changes) if changes.ndim == 0 else changes


def n_labels(n_points, method="nri_uniform"):
    """How many labels a method gives: the length of one histogram.

    Parameters
    ----------
    n_points : int
    method : {"default", "uniform", "nri_uniform"}

    Returns
    -------
    int
        2^P, P + 2, or P (P - 1) + 3.

    Examples
    --------
    >>> n_labels(8, "default"), n_labels(8, "uniform"), n_labels(8, "nri_uniform")
    (256, 10, 59)
    """
    n_points, method = _check_points(n_points), _check_method(method)
    return {"default": 2 ** n_points, "uniform": n_points + 2, "nri_uniform": n_points * (n_points - 1) + 3}[method]


def pattern_labels(n_points, method="nri_uniform"):
    """The label of every raw code: a look-up table.

    "uniform": a uniform code (U <= 2) is labelled by its number of ones
    (0 .. P), every other code by P + 1. "nri_uniform": the all-zero code is
    0, a uniform code with k ones (0 < k < P) whose run of ones starts at bit
    s (the 1 that follows a 0) is ``1 + (k - 1) P + (P - s) mod P``, the
    all-one code is ``P (P - 1) + 1`` and every non-uniform code
    ``P (P - 1) + 2``: scikit-image's numbering, so that histograms compare
    bin for bin.

    Parameters
    ----------
    n_points : int
    method : {"default", "uniform", "nri_uniform"}

    Returns
    -------
    ndarray, shape (2^P,), int
        ``labels[code]``, in 0 .. ``n_labels(P, method) - 1``.
    """
    n_points, method = _check_points(n_points), _check_method(method)
    codes = np.arange(2 ** n_points)
    if method == "default":
        return codes
    bits = (codes[:, None] >> np.arange(n_points)) & 1
    ones = bits.sum(axis=1)
    uniform = transitions(codes, n_points) <= 2
    if method == "uniform":
        return np.where(uniform, ones, n_points + 1)
    starts = bits & (1 - np.roll(bits, 1, axis=1))           # a 1 whose predecessor (bit p - 1) is 0
    s = np.argmax(starts, axis=1)
    labels = 1 + (ones - 1) * n_points + (n_points - s) % n_points
    labels = np.where(ones == 0, 0, np.where(ones == n_points, n_points * (n_points - 1) + 1, labels))
    return np.where(uniform, labels, n_points * (n_points - 1) + 2)


def _plane_codes(volume, axes, offsets, margins):
    """Raw LBP codes on the planes spanned by ``axes`` of ``volume``, for the voxels ``margins`` away
    from every border; bilinear samples, built from shifted views (no copy of the volume per pixel).

    A sample less than a billionth of the volume's largest magnitude below the centre counts as equal
    (bit 1): a bilinear mix of four equal grey levels may differ from them in the last bit, and s(0) = 1."""
    shape = volume.shape
    tie = _TIE * max(float(np.abs(volume).max()), np.finfo(float).tiny)

    def view(shift):
        return volume[tuple(slice(m + s, n - m + s) for n, m, s in zip(shape, margins, shift))]

    centre = view([0] * volume.ndim)
    codes = np.zeros(centre.shape, dtype=np.int32)
    for p, (dr, dc) in enumerate(offsets):
        r0, c0 = math.floor(dr), math.floor(dc)
        fr, fc = dr - r0, dc - c0
        sample = np.zeros(centre.shape)
        for rr, wr in ((r0, 1 - fr), (r0 + 1, fr)):
            for cc, wc in ((c0, 1 - fc), (c0 + 1, fc)):
                if wr * wc == 0:
                    continue
                shift = [0] * volume.ndim
                shift[axes[0]], shift[axes[1]] = rr, cc
                sample += (wr * wc) * view(shift)
        codes |= (sample >= centre - tie).astype(np.int32) << p
    return codes


def _as_float(name, array, ndim):
    array = np.asarray(array)
    if array.ndim != ndim:
        raise UserInputError(f"{name}: expected a {ndim}-D array, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)):
        raise UserInputError(f"{name}: expected real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise UserInputError(f"{name}: contains NaN or infinite values")
    return array


def lbp_2d(image, n_points=8, radius=1.0, method="default"):
    """Local binary patterns of a grey image, at the pixels whose whole circle lies inside it.

    Parameters
    ----------
    image : array_like, shape (H, W)
        Grey levels (any real dtype).
    n_points : int, default 8
        P, the number of neighbours.
    radius : float or (float, float), default 1.0
        R, or (radius along rows, radius along columns) for an ellipse.
    method : {"default", "uniform", "nri_uniform"}
        How codes are labelled (:func:`pattern_labels`).

    Returns
    -------
    ndarray, shape (H - 2 ceil(r_row), W - 2 ceil(r_col)), int
        The label of every interior pixel: ``out[i, j]`` belongs to pixel
        ``(i + ceil(r_row), j + ceil(r_col))``. It equals
        ``skimage.feature.local_binary_pattern`` there (up to ties that
        rounding decides).

    Examples
    --------
    >>> lbp_2d([[5, 5, 5], [1, 4, 1], [9, 9, 9]], n_points=4)
    array([[10]])
    """
    image = _as_float("image", image, 2)
    r_row, r_col = (radius, radius) if np.ndim(radius) == 0 else tuple(radius)
    off = circle_offsets(n_points, r_row, r_col)
    margins = (math.ceil(abs(float(r_row))), math.ceil(abs(float(r_col))))
    if any(n <= 2 * m for n, m in zip(image.shape, margins)):
        raise UserInputError(f"image: shape {image.shape} has no pixel whose whole circle of radius "
                             f"{(r_row, r_col)} lies inside it")
    return pattern_labels(n_points, method)[_plane_codes(image, (0, 1), off, margins)]


def _check_radii(radii):
    if np.ndim(radii) != 1 or len(radii) != 3:
        raise UserInputError(f"radii: expected (R_X, R_Y, R_T), got {radii!r}")
    return tuple(_check_radius(name, r) for name, r in zip(("R_X", "R_Y", "R_T"), radii))


def lbp_top(volume, n_points=8, radii=(1.0, 1.0, 1.0), method="nri_uniform"):
    """LBP codes of a clip on its three orthogonal planes (Zhao & Pietikäinen 2007).

    Parameters
    ----------
    volume : array_like, shape (T, H, W)
        A grey clip ``V[t, y, x]``.
    n_points : int, default 8
        Neighbours on every plane.
    radii : (float, float, float), default (1, 1, 1)
        (R_X, R_Y, R_T): pixels along x and y, frames along t. The XY plane
        samples an ellipse of semi-axes (R_Y rows, R_X columns); XT, the
        plane ``V[:, y, :]``, one of (R_T frames, R_X columns); YT, the plane
        ``V[:, :, x]``, one of (R_T frames, R_Y columns).
    method : {"default", "uniform", "nri_uniform"}

    Returns
    -------
    ndarray, shape (3, T', H', W'), int
        The labels on the planes XY, XT, YT (:data:`PLANES`) of every voxel
        whose three neighbourhoods lie inside the clip: ``T' = T - 2 ceil(R_T)``,
        ``H' = H - 2 ceil(R_Y)``, ``W' = W - 2 ceil(R_X)``.
    """
    volume = _as_float("volume", volume, 3)
    n_points = _check_points(n_points)
    rx, ry, rt = _check_radii(radii)
    margins = (math.ceil(rt), math.ceil(ry), math.ceil(rx))
    if any(n <= 2 * m for n, m in zip(volume.shape, margins)):
        raise UserInputError(f"volume: shape {volume.shape} (T, H, W) leaves no voxel at least {margins} "
                             f"from every border (radii R_X={rx:g}, R_Y={ry:g}, R_T={rt:g})")
    table = pattern_labels(n_points, method)
    planes = [((1, 2), circle_offsets(n_points, ry, rx)),     # XY: rows y, columns x
              ((0, 2), circle_offsets(n_points, rt, rx)),     # XT: rows t, columns x
              ((0, 1), circle_offsets(n_points, rt, ry))]     # YT: rows t, columns y
    return np.stack([table[_plane_codes(volume, axes, off, margins)] for axes, off in planes])


def block_edges(n, n_blocks):
    """Where ``n`` pixels are cut into ``n_blocks`` nearly equal blocks.

    Parameters
    ----------
    n : int
    n_blocks : int
        1 .. n.

    Returns
    -------
    ndarray, shape (n_blocks + 1,), int
        ``0 = e_0 < e_1 < ... < e_B = n``; block b holds pixels ``e_b .. e_{b+1} - 1``.

    Examples
    --------
    >>> block_edges(10, 3)
    array([ 0,  3,  7, 10])
    """
    if not isinstance(n_blocks, (int, np.integer)) or not 1 <= n_blocks <= n:
        raise UserInputError(f"grid: expected from 1 to {n} blocks along an axis of {n} pixels, got {n_blocks!r}")
    return np.round(np.linspace(0, n, n_blocks + 1)).astype(int)


def block_histograms(labels, n_bins, grid=(5, 5)):
    """Normalised histograms of labels in a grid of blocks over the face.

    Parameters
    ----------
    labels : array_like of int, shape (H, W) or (T, H, W)
        LBP labels of one plane (all frames of a block are pooled).
    n_bins : int
        The number of labels (:func:`n_labels`).
    grid : (int, int), default (5, 5)
        Blocks along rows and columns (:func:`block_edges`).

    Returns
    -------
    ndarray, shape (grid[0], grid[1], n_bins), float
        ``h[i, j, k]``: the share of block (i, j)'s pixels labelled k (each
        block's histogram sums to 1).
    """
    labels = np.asarray(labels)
    if labels.ndim not in (2, 3) or not np.issubdtype(labels.dtype, np.integer):
        raise UserInputError(f"labels: expected integer labels of shape (H, W) or (T, H, W), got "
                             f"{labels.dtype} {labels.shape}")
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise UserInputError(f"n_bins: expected a positive integer, got {n_bins!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_bins):
        raise UserInputError(f"labels: expected values in 0 .. {n_bins - 1}, got {labels.min()} .. {labels.max()}")
    if np.ndim(grid) != 1 or len(grid) != 2:
        raise UserInputError(f"grid: expected (blocks along rows, blocks along columns), got {grid!r}")
    labels = labels.reshape((-1,) + labels.shape[-2:])
    rows = np.repeat(np.arange(grid[0]), np.diff(block_edges(labels.shape[1], grid[0])))
    cols = np.repeat(np.arange(grid[1]), np.diff(block_edges(labels.shape[2], grid[1])))
    block = rows[:, None] * grid[1] + cols[None, :]                       # (H, W): the block of each pixel
    counts = np.bincount((block[None] * n_bins + labels).ravel(), minlength=grid[0] * grid[1] * n_bins)
    counts = counts.reshape(grid[0], grid[1], n_bins).astype(float)
    return counts / counts.sum(axis=2, keepdims=True)


def lbp_top_histograms(clips, grid=(5, 5), n_points=8, radii=(1.0, 1.0, 1.0), method="nri_uniform",
                       progress=False):
    """The LBP-TOP descriptor of every clip: block histograms on the three planes.

    Parameters
    ----------
    clips : array_like, shape (N, T, H, W) or (T, H, W)
        Grey clips of aligned faces (the same face region in every block).
    grid : (int, int), default (5, 5)
        Blocks along y and x over the interior voxels (:func:`lbp_top`).
    n_points : int, default 8
    radii : (float, float, float), default (1, 1, 1)
        (R_X, R_Y, R_T).
    method : {"default", "uniform", "nri_uniform"}
    progress : bool
        Show a progress bar over the clips.

    Returns
    -------
    ndarray, shape (N, 3, grid[0], grid[1], n_labels), float
        Histograms per clip, plane (XY, XT, YT), block row and block column;
        each sums to 1 over its last axis. (N absent for one clip.)
    """
    clips = np.asarray(clips)
    single = clips.ndim == 3
    if clips.ndim not in (3, 4):
        raise UserInputError(f"clips: expected (N, T, H, W) or (T, H, W), got shape {clips.shape}")
    batch = clips[None] if single else clips
    bins = n_labels(n_points, method)
    iterator = range(len(batch))
    if progress:
        from mer_lib.env import progress_bar
        iterator = progress_bar(iterator, desc="LBP-TOP", total=len(batch))
    out = np.stack([np.stack([block_histograms(plane, bins, grid) for plane in
                              lbp_top(batch[i], n_points, radii, method)]) for i in iterator])
    return out[0] if single else out


def plane_features(histograms, planes=PLANES):
    """Feature vectors of the chosen planes: their block histograms, concatenated.

    Parameters
    ----------
    histograms : ndarray, shape (N, 3, B_y, B_x, L)
        From :func:`lbp_top_histograms`.
    planes : sequence of {"xy", "xt", "yt"}
        Which planes to keep (all three: LBP-TOP; "xy" alone: LBP of the frames).

    Returns
    -------
    ndarray, shape (N, len(planes) * B_y * B_x * L)
    """
    histograms = np.asarray(histograms)
    if histograms.ndim != 5 or histograms.shape[1] != 3:
        raise UserInputError(f"histograms: expected shape (N, 3, B_y, B_x, L), got {histograms.shape}")
    bad = [p for p in planes if p not in PLANES]
    if bad or not planes:
        raise UserInputError(f"planes: expected a non-empty selection of {PLANES}, got {tuple(planes)!r}")
    index = [PLANES.index(p) for p in planes]
    return histograms[:, index].reshape(len(histograms), -1)
