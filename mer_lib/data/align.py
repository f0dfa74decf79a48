"""Eye alignment and head-motion compensation of a clip (issue 11, item 3).

:func:`eye_alignment` gives the similarity transform that puts two eyes at
:data:`ALIGNED_EYES` (SynthME's canonical frame), :func:`find_eyes` finds
them on a photograph, and :func:`compensate_head_motion` registers each frame
onto the first over the face's rigid parts (:func:`rigid_mask`).
:func:`mer_lib.data.prepare.prepare_clip` uses them with ``align=True`` and
``compensate=True``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mer_lib.data.faces import _LANDMARKS, _detect_faces, face_ellipse, find_face_features
from mer_lib.errors import UserInputError

__all__ = ["ALIGNED_EYES", "eye_alignment", "warp_similarity", "find_eyes", "rigid_mask", "rigid_motion",
           "compensate_head_motion"]

#: Where alignment puts the eyes, as fractions of the output side: SynthME's canonical frame (the
#: template's eyes at (46.4, 48) and (81.6, 48) of 128), so that aligned real faces and SynthME frames
#: are framed alike.
ALIGNED_EYES = ((46.4 / 128, 48 / 128), (81.6 / 128, 48 / 128))


def eye_alignment(eyes, size=64):
    """The similarity transform that puts two eyes at :data:`ALIGNED_EYES` of a ``size`` x ``size`` frame.

    Parameters
    ----------
    eyes : array_like, shape (2, 2)
        (x, y) of the eye on the image's left, then on its right, in pixels.
    size : int
        Side of the aligned frame.

    Returns
    -------
    ndarray, shape (2, 3)
        ``M`` with ``aligned = M @ (x, y, 1)``: a rotation, a uniform scale and
        a translation (OpenCV's ``warpAffine`` convention).

    Notes
    -----
    With points as complex numbers, ``z' = a z + b``; two point pairs give
    ``a = (e'_r - e'_l) / (e_r - e_l)`` and ``b = e'_l - a e_l``; then
    ``M = [[Re a, -Im a, Re b], [Im a, Re a, Im b]]``.
    """
    eyes = np.asarray(eyes, float)
    if eyes.shape != (2, 2) or not np.all(np.isfinite(eyes)):
        raise UserInputError(f"eyes must be two finite (x, y) points, shape (2, 2), got {eyes.shape}")
    if np.allclose(eyes[0], eyes[1]):
        raise UserInputError(f"eyes must be two distinct points, got {eyes.tolist()}")
    target = np.asarray(ALIGNED_EYES) * size
    e = eyes[:, 0] + 1j * eyes[:, 1]
    t = target[:, 0] + 1j * target[:, 1]
    a = (t[1] - t[0]) / (e[1] - e[0])
    b = t[0] - a * e[0]
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def warp_similarity(image, matrix, size):
    """Apply a 2 x 3 transform (image -> output), low-passing first when it shrinks the image.

    Parameters
    ----------
    image : ndarray, shape (H, W)
    matrix : ndarray, shape (2, 3)
    size : int

    Returns
    -------
    ndarray, shape (size, size), float32
    """
    import cv2

    image = np.asarray(image, np.float32)
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(matrix)[:, :2]))))
    if scale < 1:  # about one output pixel of blur, as area averaging would
        image = cv2.GaussianBlur(image, (0, 0), 0.5 / scale)
    return cv2.warpAffine(image, np.asarray(matrix, np.float64), (size, size), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE)


def find_eyes(image):
    """The eyes of the largest face of a grey image whose eyes are found with confidence.

    The Haar cascade's face boxes are tried from the largest down; in each,
    :func:`mer_lib.data.faces.find_face_features` looks for the eyes.

    Parameters
    ----------
    image : ndarray, shape (H, W), uint8

    Returns
    -------
    eyes : ndarray, shape (2, 2), or None
        (x, y) of the eye on the image's left, then on its right; None when
        no face is found or its eyes are not found with confidence.
    """
    grey = np.asarray(image, float) / 255.0
    for box in _detect_faces(image):
        eyes, _, confident = find_face_features(grey, box, eyes_only=True)
        if confident:
            return eyes
    return None


# ---------------------------------------------------------------------------- head motion
def rigid_mask(size):
    """Parts of an aligned face that SynthME's action units leave still: the face's ellipse
    (:func:`mer_lib.data.faces.face_ellipse`) without a disc around each AU landmark (brows, lids, cheeks,
    nose wings, mouth, chin).

    Parameters
    ----------
    size : int

    Returns
    -------
    ndarray, shape (size, size), uint8 (1 where rigid)
    """
    s = size / 128.0
    yy, xx = np.mgrid[0:size, 0:size] / s
    mask = face_ellipse(size)
    for name, (x, y) in _LANDMARKS.items():
        radius = 20 if name == "chin" else 13
        mask &= np.hypot(xx - x, yy - y) > radius
    return mask.astype(np.uint8)


def rigid_motion(template, image, mask, iterations=30, sigma=1.0):
    """The rotation and translation that bring ``image`` onto ``template`` over ``mask``.

    Gauss-Newton (Lucas-Kanade with the template's gradient) on
    ``image(R (x - c) + c + t) = a template(x) + b``, where the gain ``a`` and
    the offset ``b`` absorb a change of illumination (flicker) and are solved
    for at each step; ``c`` is the frame's centre.

    Parameters
    ----------
    template, image : ndarray, shape (H, W)
    mask : ndarray, shape (H, W), bool or 0/1
        The pixels used.
    iterations : int
    sigma : float
        Pre-smoothing (px) for the gradient.

    Returns
    -------
    ndarray, shape (2, 3)
        ``M`` with ``x_image = M @ (x, y, 1)`` for a point (x, y) of the template.
    """
    template = np.asarray(template, float)
    image = np.asarray(image, float)
    sel = np.asarray(mask).astype(bool)
    if template.shape != image.shape or sel.shape != template.shape or sel.sum() < 3:
        raise UserInputError(f"template, image and mask must share one shape (H, W) and the mask must hold pixels, got "
                             f"{template.shape}, {image.shape}, {sel.shape} with {int(sel.sum())} pixels")
    h, w = template.shape
    cx, cy = (w - 1) / 2, (h - 1) / 2
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    dx, dy = xx - cx, yy - cy
    smooth = ndimage.gaussian_filter(template, sigma) if sigma else template
    gy, gx = np.gradient(smooth)
    jac = np.stack([gx * -dy + gy * dx, gx, gy], axis=-1)[sel]     # d/d(theta, tx, ty), (M, 3)
    hessian = jac.T @ jac
    coeffs = ndimage.spline_filter(ndimage.gaussian_filter(image, sigma) if sigma else image, order=3)
    ones = np.ones(int(sel.sum()))
    p = np.zeros(3)
    for _ in range(iterations):
        cos, sin = np.cos(p[0]), np.sin(p[0])
        wx = cos * dx - sin * dy + cx + p[1]
        wy = sin * dx + cos * dy + cy + p[2]
        warped = ndimage.map_coordinates(coeffs, [wy[sel], wx[sel]], order=3, mode="nearest", prefilter=False)
        (gain, offset), *_ = np.linalg.lstsq(np.c_[smooth[sel], ones], warped, rcond=None)
        step = -np.linalg.solve(hessian, jac.T @ ((warped - offset) / gain - smooth[sel]))
        p += step
        if np.abs(step).max() < 1e-5:
            break
    cos, sin = np.cos(p[0]), np.sin(p[0])
    return np.array([[cos, -sin, cx + p[1] - cos * cx + sin * cy], [sin, cos, cy + p[2] - sin * cx - cos * cy]])


def compensate_head_motion(frames, mask=None):
    """Remove a rigid head motion: each frame is registered onto the first over rigid face parts.

    Parameters
    ----------
    frames : ndarray, shape (T, H, W), float in [0, 1]
        An aligned clip (eyes at :data:`ALIGNED_EYES`).
    mask : ndarray, shape (H, W), optional
        Where the face is rigid; by default :func:`rigid_mask`.

    Returns
    -------
    compensated : ndarray, shape (T, H, W), float32
        Frame t resampled so that its rigid parts lie where they are in frame 0.
    motions : ndarray, shape (T, 2, 3)
        The rotation and translation estimated for each frame
        (:func:`rigid_motion`), mapping frame 0's coordinates to frame t's.
    """
    frames = np.asarray(frames, np.float32)
    if frames.ndim != 3 or frames.shape[1] != frames.shape[2]:
        raise UserInputError(f"frames must be an aligned clip of shape (T, H, H), got {frames.shape}")
    size = frames.shape[1]
    mask = rigid_mask(size) if mask is None else np.asarray(mask)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    out = np.empty_like(frames)
    motions = np.zeros((len(frames), 2, 3))
    out[0] = frames[0]
    motions[0] = np.eye(2, 3)
    for t in range(1, len(frames)):
        m = rigid_motion(frames[0], frames[t], mask)
        motions[t] = m
        out[t] = ndimage.map_coordinates(frames[t], [m[1, 0] * xx + m[1, 1] * yy + m[1, 2],
                                                     m[0, 0] * xx + m[0, 1] * yy + m[0, 2]], order=3, mode="nearest")
    return out, motions
