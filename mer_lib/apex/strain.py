"""Optical strain: how much a flow field stretches and shears the face, pixel by pixel.

A flow ``(u, v)`` moves a point ``x`` to ``x + (u, v)``. Near ``x`` the motion is,
to first order, ``d(u, v) = J dx`` with the Jacobian ``J = grad (u, v)``. Split
``J`` into its symmetric and antisymmetric parts,

    J = E + W,   E = (J + J^T) / 2,   W = (J - J^T) / 2,

and ``W`` is a small rotation, ``E`` the (infinitesimal) strain tensor:

    E = [[ du/dx,               (du/dy + dv/dx) / 2 ],
         [ (du/dy + dv/dx) / 2,  dv/dy               ]].

A translation has ``J = 0`` and a rotation has ``E = 0``: neither strains the
face, so the strain sees the deformation of the skin and not the rigid motion
of the head. The optical strain magnitude is the Frobenius norm of ``E``,

    |E| = sqrt(E_xx^2 + E_yy^2 + 2 E_xy^2),

as used by Shreve et al. (2011) for spotting and by Liong et al. (2014, the
paper's reference [5]) for recognition. Strain is dimensionless (pixels of
displacement per pixel of distance): resizing a flow field and its grid
together leaves it unchanged.

Chapter ``book/13_apex_frame.md`` derives it.
"""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["strain_components", "optical_strain"]


def _check_flow(flow):
    flow = np.asarray(flow, float)
    if flow.ndim != 3 or flow.shape[2] != 2 or min(flow.shape[:2]) < 2:
        raise UserInputError(f"flow: expected shape (H, W, 2) with H, W >= 2, got {flow.shape}")
    if not np.all(np.isfinite(flow)):
        raise UserInputError("flow: contains NaN or infinite values")
    return flow


def strain_components(flow, spacing=1.0):
    """The three independent components of the strain tensor of a flow field.

    Derivatives are central differences inside the image and one-sided
    differences on its border (``numpy.gradient``): exact for a flow that is
    linear in x and y, second-order accurate inside for a smooth one.

    Parameters
    ----------
    flow : array_like, shape (H, W, 2)
        ``flow[..., 0]`` horizontal (u, along columns), ``flow[..., 1]``
        vertical (v, along rows), in pixels.
    spacing : float, default 1.0
        Distance between neighbouring pixels, in the flow's unit.

    Returns
    -------
    exx, eyy, exy : ndarray, shape (H, W)
        ``du/dx``, ``dv/dy`` and ``(du/dy + dv/dx) / 2``.

    Examples
    --------
    A shear ``u = 0.1 y``:

    >>> yy, xx = np.mgrid[0:5, 0:5].astype(float)
    >>> exx, eyy, exy = strain_components(np.stack([0.1 * yy, 0 * xx], -1))
    >>> float(exx.max()), float(eyy.max()), round(float(exy.mean()), 3)
    (0.0, 0.0, 0.05)
    """
    flow = _check_flow(flow)
    if not np.isfinite(spacing) or spacing <= 0:
        raise UserInputError(f"spacing: expected a positive number, got {spacing!r}")
    du_dy, du_dx = np.gradient(flow[..., 0], spacing)
    dv_dy, dv_dx = np.gradient(flow[..., 1], spacing)
    return du_dx, dv_dy, 0.5 * (du_dy + dv_dx)


def optical_strain(flow, spacing=1.0):
    """The optical strain magnitude of a flow field: the Frobenius norm of its strain tensor.

    Parameters
    ----------
    flow : array_like, shape (H, W, 2)
    spacing : float, default 1.0

    Returns
    -------
    ndarray, shape (H, W)
        ``sqrt(exx^2 + eyy^2 + 2 exy^2)`` (:func:`strain_components`).

    Examples
    --------
    A rotation does not strain:

    >>> yy, xx = np.mgrid[0:6, 0:6].astype(float)
    >>> float(optical_strain(np.stack([-0.02 * yy, 0.02 * xx], -1)).max()) < 1e-15
    True
    """
    exx, eyy, exy = strain_components(flow, spacing)
    return np.sqrt(exx ** 2 + eyy ** 2 + 2 * exy ** 2)
