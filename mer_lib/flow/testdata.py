"""Inputs with known motion for checking flow methods (shared by the chapters, tests and benchmark)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mer_lib.errors import UserInputError

__all__ = ["texture", "translated_pair", "subpixel_pairs", "motorcycle"]


def texture(size=128, top=30, left=120):
    """A real image texture: a crop of scikit-image's astronaut photograph, grey, float64 in [0, 1].

    Parameters
    ----------
    size : int
    top, left : int
        Corner of the crop in the 512 x 512 photograph.

    Returns
    -------
    ndarray, shape (size, size)
    """
    from skimage import color, data

    image = color.rgb2gray(data.astronaut())
    if top + size > image.shape[0] or left + size > image.shape[1]:
        raise UserInputError(f"a {size}-pixel crop at ({top}, {left}) does not fit in the 512 x 512 photograph")
    return image[top:top + size, left:left + size]


def translated_pair(dx, dy, size=128, top=30, left=120):
    """A texture and its copy translated by (dx, dy) pixels, with the ground-truth flow.

    Returns
    -------
    frame0, frame1 : ndarray, shape (size, size)
        ``frame1(x + (dx, dy)) = frame0(x)`` (cubic-spline shift).
    gt : ndarray, shape (size, size, 2)
    """
    f0 = texture(size, top, left)
    f1 = ndimage.shift(f0, (dy, dx), order=3, mode="nearest")
    gt = np.zeros(f0.shape + (2,))
    gt[..., 0], gt[..., 1] = dx, dy
    return f0, f1, gt


def subpixel_pairs(size=128, n=4, seed=0, border=10):
    """``n`` textures translated by random sub-pixel amounts (0.1-0.5 px per axis, random signs).

    Returns
    -------
    list of (frame0, frame1, gt, mask)
        ``mask`` leaves out a border of ``border`` pixels (where the shifted
        image is extrapolated).
    """
    rng = np.random.default_rng(seed)
    pairs = []
    for k in range(n):
        d = rng.uniform(0.1, 0.5, 2) * rng.choice([-1, 1], 2)
        f0, f1, gt = translated_pair(d[0], d[1], size, top=20 + 25 * k, left=100 + 20 * k)
        mask = np.zeros(f0.shape, bool)
        mask[border:-border, border:-border] = True
        pairs.append((f0, f1, gt, mask))
    return pairs


def motorcycle(scale=1.0):
    """The Middlebury "motorcycle" stereo pair that scikit-image ships, as a flow problem.

    With the left image as frame0 and the right image as frame1, the true flow
    at each left-image pixel is (-disparity, 0). About 7% of the disparities
    are infinite (unknown); they stay infinite, and ``endpoint_error`` ignores
    them.

    Parameters
    ----------
    scale : float
        Resize factor (0.5 for a quick run); the disparity is scaled with it.

    Returns
    -------
    frame0, frame1 : ndarray, shape (H, W), float64 grey
    gt : ndarray, shape (H, W, 2)
    """
    from skimage import color, data

    left, right, disp = data.stereo_motorcycle()
    left, right = color.rgb2gray(left), color.rgb2gray(right)
    if scale != 1.0:
        left = ndimage.zoom(left, scale, order=1)
        right = ndimage.zoom(right, scale, order=1)
        known = np.isfinite(disp)
        disp = ndimage.zoom(np.where(known, disp, 0.0), scale, order=0) * scale
        disp[ndimage.zoom(known.astype(np.uint8), scale, order=0) == 0] = np.inf
    gt = np.stack([-disp, np.zeros_like(disp)], axis=-1)
    return left, right, gt
