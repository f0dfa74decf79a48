"""Faces: finding them (OpenCV's Haar cascade), their eyes and mouth (without a trained model), and the
gallery of real faces SynthME's subjects are made of.

Every face here ships with an installed package (nothing is downloaded):
scikit-image's ``astronaut`` and ``lfw_subset``, matplotlib's
``grace_hopper.jpg``. :func:`find_face_features` finds the eyes and the mouth
of a frontal face; SynthME moves its action-unit landmarks to them, and the
clip preparation's eye alignment (:func:`mer_lib.data.prepare.find_eyes`)
uses the eyes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage

from mer_lib.errors import UserInputError

__all__ = ["detect_face", "face_image", "Face", "face_gallery", "find_face_features", "face_ellipse",
           "sample_photographs", "SAMPLE_FACE_BOXES", "DISTINCT_CORRELATION"]

# Landmarks of the astronaut's face in the canonical 128 x 128 face crop, (x, y) in pixels.
_LANDMARKS = {
    "brow_inner_l": (54.4, 38.4), "brow_inner_r": (73.6, 38.4),
    "brow_outer_l": (36.8, 39.2), "brow_outer_r": (92.0, 39.2),
    "eye_l": (46.4, 48.0), "eye_r": (81.6, 48.0),
    "lid_l": (46.4, 45.6), "lid_r": (81.6, 45.6),
    "cheek_l": (40.8, 66.4), "cheek_r": (86.4, 65.6),
    "nose_l": (56.0, 69.6), "nose_r": (70.4, 69.6),
    "mouth_l": (47.2, 81.6), "mouth_r": (79.2, 80.0),
    "lower_lip": (63.2, 86.4), "chin": (64.0, 100.0),
}


_CASCADE = None


def detect_face(image, min_size=40):
    """The largest frontal face in a grey image, by OpenCV's Haar cascade.

    Parameters
    ----------
    image : ndarray, shape (H, W), uint8
    min_size : int
        Smallest face side, in pixels.

    Returns
    -------
    tuple of 4 ints or None
        (x, y, w, h) of the face box, or None when no face is found.
    """
    faces = _detect_faces(image, min_size)
    return faces[0] if faces else None


def _detect_faces(image, min_size=40):
    """Every face box (x, y, w, h) the Haar cascade finds, the largest first."""
    import cv2

    global _CASCADE
    if _CASCADE is None:
        _CASCADE = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades,
                                                      "haarcascade_frontalface_default.xml"))
    faces = _CASCADE.detectMultiScale(np.asarray(image, np.uint8), scaleFactor=1.1, minNeighbors=5,
                                      minSize=(min_size, min_size))
    return [tuple(int(v) for v in f) for f in sorted(faces, key=lambda f: -f[2] * f[3])]



def face_image() -> np.ndarray:
    """The astronaut photograph in grey, cropped to the face: (160, 160) float64 in [0, 1].

    Returns
    -------
    ndarray, shape (160, 160)
    """
    from skimage import color, data

    grey = color.rgb2gray(data.astronaut())
    return np.ascontiguousarray(grey[42:202, 144:304])



#: Where the features are looked for: faces are framed like the LFW crops of scikit-image's
#: ``lfw_subset`` (a Haar face box of side s becomes a square of side s * 100 / 81 whose corner is
#: 4/81 s left of and 5/81 s above the box's, as the Haar cascade finds on the LFW faces) and resampled
#: to 100 x 100. The eye windows are centred on the two dark blobs of the mean of the 100 LFW faces
#: at that size (difference of Gaussians), (28, 33) and (57, 32).
_ANALYSIS = 100
_EYE_PRIORS = ((28.0, 33.0), (57.0, 32.0))
_EYE_WINDOW = (11, 9)
#: Canonical (128 x 128) positions of the eyes and of the mouth's centre in the template.
_CANON_EYES = np.array([_LANDMARKS["eye_l"], _LANDMARKS["eye_r"]])
_CANON_MOUTH = np.array([(_LANDMARKS["mouth_l"][0] + _LANDMARKS["mouth_r"][0]) / 2,
                         (_LANDMARKS["mouth_l"][1] + _LANDMARKS["mouth_r"][1]) / 2])


@dataclass
class Face:
    """One identity of SynthME: a real face photograph and its features, found automatically.

    Attributes
    ----------
    name : str
        ``astronaut``, ``grace_hopper`` or ``lfw_NN`` (index in ``skimage.data.lfw_subset()``).
    image : ndarray, shape (H, W), float64 in [0, 1]
        The grey photograph.
    eyes : ndarray, shape (2, 2)
        (x, y) of the eye on the image's left, then on its right, in image pixels.
    mouth : ndarray, shape (2,)
        (x, y) of the mouth's centre.
    landmarks : dict
        The AU landmarks of this face in the canonical 128 x 128 frame (eyes at the template's).
    """

    name: str
    image: np.ndarray
    eyes: np.ndarray
    mouth: np.ndarray
    landmarks: dict = field(default_factory=dict)

    def to_image(self):
        """(a, b): the similarity ``z_image = a z_canonical + b`` (complex numbers x + iy) that puts the
        template's eyes on this face's eyes."""
        e = self.eyes[:, 0] + 1j * self.eyes[:, 1]
        c = _CANON_EYES[:, 0] + 1j * _CANON_EYES[:, 1]
        a = (e[1] - e[0]) / (c[1] - c[0])
        return a, e[0] - a * c[0]

    @property
    def pixels_per_canonical(self) -> float:
        """Image pixels per pixel of the canonical 128 x 128 frame (below 1: the face is upsampled)."""
        return float(abs(self.to_image()[0]))


def _framing(shape, box):
    """(x0, y0, side) of the LFW-like square framing of a face box (the whole image when box is None)."""
    if box is None:
        h, w = shape
        return 0.0, 0.0, float(min(h, w))
    x, y, s, _ = box
    return x - 4 / 81 * s, y - 5 / 81 * s, s * 100 / 81


def find_face_features(image, box=None, eyes_only=False):
    """The eyes and the mouth of a frontal face, found without any trained model.

    The face is framed like the LFW crops and resampled to 100 x 100. Each eye
    is the deepest dark blob (difference of Gaussians, sigma 2.5 and 7 px) in a
    window around the eyes of the mean LFW face, refined to sub-pixel by the
    blob's centroid; the mouth is the darkest horizontal band (anisotropic
    difference of Gaussians) along the perpendicular bisector of the eyes, 0.85
    to 1.6 eye distances below them.

    Parameters
    ----------
    image : ndarray, shape (H, W), float in [0, 1]
        A grey image.
    box : tuple (x, y, w, h), optional
        The face box of OpenCV's Haar cascade (:func:`mer_lib.data.detect_face`);
        None when ``image`` is already a face crop framed like the LFW faces.
    eyes_only : bool
        Judge the confidence on the eyes alone (for alignment, which needs no
        mouth), with wider bounds: 24 to 50 px apart, tilted under 25 degrees.

    Returns
    -------
    eyes : ndarray, shape (2, 2)
        (x, y) of the eye on the image's left, then on its right, in image pixels.
    mouth : ndarray, shape (2,)
        (x, y) of the mouth's centre.
    confident : bool
        False when the geometry is implausible: eyes closer than 26 or farther
        than 40 px apart at 100 x 100, tilted over 15 degrees, the mouth
        outside 0.9 to 1.45 eye distances below them, or a feature found on its
        search window's edge.
    """
    image = np.asarray(image, float)
    if image.ndim != 2:
        raise UserInputError(f"image must be a grey image of shape (H, W), got shape {image.shape}")
    x0, y0, side = _framing(image.shape, box)
    f = side / _ANALYSIS
    grid = (np.arange(_ANALYSIS) + 0.5) * f - 0.5
    smooth = ndimage.gaussian_filter(image, 0.5 * f) if f > 1 else image
    framed = ndimage.map_coordinates(smooth, np.meshgrid(y0 + grid, x0 + grid, indexing="ij"), order=3,
                                     mode="nearest")
    dog = ndimage.gaussian_filter(framed, 2.5) - ndimage.gaussian_filter(framed, 7)
    eyes, edge = [], False
    rx, ry = _EYE_WINDOW
    for cx, cy in _EYE_PRIORS:
        cx, cy = int(cx), int(cy)
        win = dog[cy - ry:cy + ry + 1, cx - rx:cx + rx + 1]
        j, i = np.unravel_index(np.argmin(win), win.shape)[::-1]
        edge |= j in (0, 2 * rx) or i in (0, 2 * ry)
        px, py = cx - rx + j, cy - ry + i
        ys, xs = np.mgrid[py - 3:py + 4, px - 3:px + 4]
        wgt = np.clip(-dog[ys, xs] - 0.5 * -dog[py, px], 0, None)
        eyes.append((np.sum(wgt * xs) / wgt.sum(), np.sum(wgt * ys) / wgt.sum()))
    eyes = np.array(eyes)
    d_vec = eyes[1] - eyes[0]
    d = float(np.hypot(*d_vec))
    down = np.array([-d_vec[1], d_vec[0]]) / d      # perpendicular, pointing down the face
    along = d_vec / d
    band = ndimage.gaussian_filter(framed, (1.5, 5)) - ndimage.gaussian_filter(framed, (6, 10))
    ts = np.arange(0.85, 1.6, 0.02) * d
    ws = np.linspace(-0.4, 0.4, 17) * d
    mid = eyes.mean(axis=0)
    px = mid[0] + ts[:, None] * down[0] + ws[None] * along[0]
    py = mid[1] + ts[:, None] * down[1] + ws[None] * along[1]
    profile = ndimage.map_coordinates(band, [py, px], order=1, mode="nearest").mean(axis=1)
    k = int(np.argmin(profile))
    eyes_edge = edge
    edge |= k in (0, len(ts) - 1)
    t = ts[k]
    if 0 < k < len(ts) - 1:  # parabolic refinement
        a, b, c = profile[k - 1:k + 2]
        t += 0.5 * (a - c) / (a - 2 * b + c + 1e-12) * (ts[1] - ts[0])
    mouth = mid + t * down
    angle = np.degrees(np.arctan2(d_vec[1], d_vec[0]))
    if eyes_only:
        confident = bool(24 <= d <= 50 and abs(angle) < 25 and not eyes_edge)
    else:
        confident = bool(26 <= d <= 40 and abs(angle) < 15 and 0.9 <= t / d <= 1.45 and not edge)
    to_image = np.array([x0, y0]) + (np.vstack([eyes, mouth]) + 0.5) * f - 0.5
    return to_image[:2], to_image[2], confident


def _face_landmarks(eyes, mouth, to_image):
    """The template's landmarks moved to this face: eyes fixed, the rest stretched and sheared so that the
    template's mouth lands on this face's mouth (in the canonical frame)."""
    a, b = to_image
    m = ((mouth[0] + 1j * mouth[1]) - b) / a
    eye_y = _CANON_EYES[0, 1]
    stretch = (m.imag - eye_y) / (_CANON_MOUTH[1] - eye_y)
    shear = (m.real - _CANON_MOUTH[0]) / (_CANON_MOUTH[1] - eye_y)
    return {k: (x + shear * (y - eye_y), eye_y + stretch * (y - eye_y)) for k, (x, y) in _LANDMARKS.items()}


def _grey(rgb):
    from skimage import color

    return color.rgb2gray(rgb) if rgb.ndim == 3 else np.asarray(rgb, float)


def _canonical_face(face, size=64):
    """A face's neutral canonical frame (no subject geometry), for comparing identities."""
    a, b = face.to_image()
    yy, xx = np.mgrid[0:size, 0:size] * (128.0 / size)
    z = a * (xx + 1j * yy) + b
    return ndimage.map_coordinates(face.image, [z.imag, z.real], order=1, mode="reflect")


def _correlation(u, v):
    u = (u - u.mean()) / (u.std() + 1e-12)
    v = (v - v.mean()) / (v.std() + 1e-12)
    return float(np.mean(u * v))


#: Two LFW faces whose neutral canonical frames correlate above this are taken for the same person.
DISTINCT_CORRELATION = 0.8


#: The face box (x, y, w, h) of each sample photograph, as OpenCV's Haar cascade finds it
#: (:func:`detect_face`). An annotation of two fixed images, kept here so that
#: SynthME is generated the same where OpenCV has no cascade (the GPU machine's build); the tests
#: check that the cascade still finds exactly these boxes.
SAMPLE_FACE_BOXES = {"astronaut": (177, 65, 96, 96), "grace_hopper": (155, 104, 223, 223)}


@lru_cache(maxsize=1)
def face_gallery():
    """The real faces SynthME's subjects are made of, all shipped with installed packages.

    The astronaut (Eileen Collins; scikit-image), Grace Hopper (matplotlib's
    sample data), then the faces of scikit-image's ``lfw_subset`` (25 x 25
    crops of Labeled Faces in the Wild) on which :func:`find_face_features`
    is confident and whose neutral canonical frame correlates below
    ``DISTINCT_CORRELATION`` with every face already chosen. The photographs'
    faces are the boxes of :data:`SAMPLE_FACE_BOXES` (OpenCV's Haar
    cascade's).

    Returns
    -------
    list of Face
    """
    from skimage import data

    faces = []
    for name, rgb in sample_photographs().items():
        grey = _grey(rgb)
        eyes, mouth, _ = find_face_features(grey, SAMPLE_FACE_BOXES[name])
        faces.append(Face(name, grey, eyes, mouth))
    for k, crop in enumerate(data.lfw_subset()[:100]):  # the first 100 are faces, the rest are not
        eyes, mouth, confident = find_face_features(crop)
        if confident:
            faces.append(Face(f"lfw_{k:02d}", np.asarray(crop, float), eyes, mouth))
    chosen, neutral = [], []
    for face in faces:
        face.landmarks = _face_landmarks(face.eyes, face.mouth, face.to_image())
        frame = _canonical_face(face)[8:56, 8:56]
        if all(_correlation(frame, other) < DISTINCT_CORRELATION for other in neutral):
            chosen.append(face)
            neutral.append(frame)
    return chosen


def sample_photographs():
    """The two photographs of :func:`face_gallery`, as shipped with scikit-image and matplotlib.

    Returns
    -------
    dict of str to ndarray, shape (H, W, 3), uint8
    """
    from matplotlib import cbook
    from skimage import data

    return {"astronaut": data.astronaut(), "grace_hopper": _read_sample("grace_hopper.jpg", cbook)}


def _read_sample(name, cbook):
    import matplotlib.pyplot as plt

    with cbook.get_sample_data(name) as f:
        return plt.imread(f, format=name.rsplit(".", 1)[-1])


def _astronaut_face() -> Face:
    """The astronaut exactly as the library's first SynthME used it: the 160 x 160 crop, 1.25 crop pixels
    per canonical pixel, the hand-placed template landmarks."""
    eyes = _CANON_EYES * 1.25
    return Face("astronaut (template)", face_image(), eyes, _CANON_MOUTH * 1.25, dict(_LANDMARKS))


def _identities(identities, n_subjects):
    """One Face per subject, or a ValueError naming ``identities``."""
    if isinstance(identities, str):
        if identities == "astronaut":
            return [_astronaut_face()] * n_subjects
        if identities != "faces":
            raise UserInputError(f"identities must be 'faces', 'astronaut' or a sequence of grey face images, "
                                 f"got {identities!r}")
        gallery = face_gallery()
        if n_subjects > len(gallery):
            raise UserInputError(f"n_subjects={n_subjects} exceeds the {len(gallery)} distinct faces of "
                                 "identities='faces'; pass fewer subjects, your own face images, or "
                                 "identities='astronaut'")
        return gallery[:n_subjects]
    images = list(identities)
    if len(images) < n_subjects:
        raise UserInputError(f"identities has {len(images)} images for n_subjects={n_subjects}: one face per subject "
                             "is needed (none is reused)")
    faces = []
    for k, image in enumerate(images[:n_subjects]):
        image = np.asarray(image, float)
        if image.ndim != 2 or image.min() < 0 or image.max() > 1:
            raise UserInputError(f"identities[{k}] must be a grey image (H, W) in [0, 1], got shape {image.shape}")
        box = detect_face((image * 255).astype(np.uint8), min_size=max(20, min(image.shape) // 8))
        eyes, mouth, confident = find_face_features(image, box)
        if not confident:
            raise UserInputError(f"identities[{k}]: the eyes and mouth were not found with confidence; pass a frontal "
                                 "face, framed like the LFW crops or large enough for the Haar cascade")
        face = Face(f"image {k}", image, eyes, mouth)
        face.landmarks = _face_landmarks(eyes, mouth, face.to_image())
        faces.append(face)
    return faces


def face_ellipse(size):
    """The face region of the canonical frame (and of a face aligned by ``prepare_clip(align=True)``).

    Parameters
    ----------
    size : int

    Returns
    -------
    ndarray, shape (size, size), bool
    """
    yy, xx = np.mgrid[0:size, 0:size] * (128.0 / size)
    return ((xx - 64) / 46) ** 2 + ((yy - 66) / 58) ** 2 <= 1

