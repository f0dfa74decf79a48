"""Exercises of chapter 13, the apex frame (book/13_apex_frame.md)."""

import numpy as np
from scipy import ndimage

from mer_lib.apex.spotting import remove_affine_motion
from mer_lib.apex.strain import optical_strain
from mer_lib.exercises import Case, Exercise, register


def _affine_cases():
    rng = np.random.default_rng(131)
    yy, xx = np.mgrid[0:12, 0:15].astype(float)
    affine = np.stack([0.2 + 0.03 * xx - 0.01 * yy, -0.4 + 0.02 * xx + 0.05 * yy], -1)
    bump = np.zeros_like(affine)
    bump[..., 1] = 0.8 * np.exp(-((xx - 9) ** 2 + (yy - 4) ** 2) / 6)
    mask = np.zeros((12, 15), bool)
    mask[2:10, 1:12] = True
    smooth = ndimage.gaussian_filter(rng.standard_normal((10, 10, 2)), (2, 2, 0))
    return [Case("a pure affine motion (a turning head)", (affine, None)),
            Case("an affine motion plus a local bump", (affine + bump, None)),
            Case("the same, the fit inside a mask only", (affine + bump, mask)),
            Case("a random smooth 10 x 10 flow", (smooth, None))]


register(Exercise("apex.remove_affine_motion", _affine_cases, remove_affine_motion, rtol=1e-6, atol=1e-8,
                  advice={"a pure affine motion (a turning head)":
                          "an affine field is exactly what the model can explain: nothing should be left. Does "
                          "your design matrix have a column for the constant, one for x (the column index) and "
                          "one for y (the row index)?",
                          "the same, the fit inside a mask only":
                          "fit the coefficients on the masked pixels only, then subtract the fitted field "
                          "everywhere, inside and outside the mask.",
                          "a random smooth 10 x 10 flow":
                          "fit each component of the flow (u and v) with its own three coefficients."}))


def _strain_cases():
    rng = np.random.default_rng(132)
    yy, xx = np.mgrid[0:9, 0:12].astype(float)
    theta = 0.05
    return [Case("a uniform stretch along x, u = 0.1 x", (np.stack([0.1 * xx, 0 * xx], -1),)),
            Case("a shear, u = 0.2 y", (np.stack([0.2 * yy, 0 * xx], -1),)),
            Case("a small rotation", (np.stack([-theta * yy, theta * xx], -1),)),
            Case("a random smooth 16 x 14 flow",
                 (ndimage.gaussian_filter(rng.standard_normal((16, 14, 2)), (2, 2, 0)),))]


register(Exercise("apex.optical_strain", _strain_cases, optical_strain, rtol=1e-6, atol=1e-10,
                  advice={"a uniform stretch along x, u = 0.1 x":
                          "du/dx is how u changes from one column to the next, along a row: which of the "
                          "arrays np.gradient returns is that one?",
                          "a shear, u = 0.2 y":
                          "a shear strains the face: the off-diagonal term mixes du/dy and dv/dx, and the "
                          "Frobenius norm of the symmetric tensor counts that term twice (it sits in two places).",
                          "a small rotation":
                          "a rotation moves the face without deforming it: only the symmetric part of the "
                          "Jacobian is strain, so the rotation's du/dy and dv/dx must cancel.",
                          "a random smooth 16 x 14 flow":
                          "which axis of flow[..., 0] is x? Rows are y, columns are x; np.gradient returns the "
                          "derivative along rows first."}))


def shallow_parameters(side, channels, filters, n_classes, kernel_size=3, padding=2, pool_size=3):
    """Parameters of the shallow network: per stream a k x k convolution (kernel and bias) and batch
    normalisation (4 per filter, 2 of them trained), then 2 x 2 average pooling, flattening and a dense layer."""
    conv = sum(kernel_size * kernel_size * channels * f + f for f in filters)
    normalisation = 4 * sum(filters)
    avg = (side + 2 * padding - kernel_size + 1) // pool_size // 2
    return conv + normalisation + avg * avg * sum(filters) * n_classes + n_classes


register(Exercise(
    "apex.shallow_parameters",
    lambda: [Case("STSTNet's sizes: 28 x 28 x 3, filters (3, 5, 8), 3 classes", (28, 3, (3, 5, 8), 3)),
             Case("one stream of 4 filters on 16 x 16 x 2, 5 classes", (16, 2, (4,), 5)),
             Case("two streams (6, 10) on 40 x 40 x 3, 3 classes", (40, 3, (6, 10), 3))],
    shallow_parameters,
    advice={"STSTNet's sizes: 28 x 28 x 3, filters (3, 5, 8), 3 classes":
            "every filter reads all input channels through a k x k window, and has a bias; batch normalisation "
            "keeps four numbers per filter (Keras counts the two it does not train as well).",
            "two streams (6, 10) on 40 x 40 x 3, 3 classes":
            "follow the side through the layers: padding adds on both sides, a 'valid' k x k convolution "
            "removes k - 1, pooling divides and rounds down."}))
