"""SynthME: a synthetic micro-expression dataset with ground-truth motion.

Clips are made by deforming real face photographs with smooth local
displacement fields that mimic facial action units (AUs). Every subject is a
different real face that ships with an installed package (nothing is
downloaded): scikit-image's ``astronaut``, matplotlib's ``grace_hopper.jpg``
and distinct faces of scikit-image's ``lfw_subset`` (25 x 25 crops, sampled
by a smooth cubic spline, so they hold no detail finer than about 4 output
pixels at 128 x 128). Each face's eyes and mouth are found automatically
(:func:`find_face_features`) and the AU landmarks follow them. Because every
frame is produced by a known warp of one photograph, the true motion of every
pixel between consecutive frames is known: that is what no real database has,
and what the optical-flow and magnification chapters are checked against.

The model
---------
A point ``p`` of the subject's neutral face is shown at time ``t`` at

    phi_t(p) = R_t (p + U_t(p) - c) + c + b_t,
    U_t(p)   = s(t) D_expr(p) + blink(t) D_blink(p),

where ``D_expr`` sums the Gaussian bumps of the clip's AUs, ``s(t)`` is the
onset-apex-offset time course (0 at the onset frame, 1 at the apex), ``D_blink``
closes the upper eyelids, and ``R_t, b_t`` are a small rigid head motion. Frame
``t`` is rendered by inverting ``phi_t`` (a few fixed-point iterations) and
sampling the photograph there; the ground-truth flow from frame t to t+1 at a
pixel ``x`` is ``phi_{t+1}(phi_t^{-1}(x)) - x``, so that
``frame_{t+1}(x + flow_t(x)) = frame_t(x)``. Sensor noise and illumination
flicker are added after rendering; they change brightness, not motion.

How exact: without noise and flicker, warping frame t+1 back with the ground
truth leaves a mean error under 2e-4 grey levels (tested, with cubic
interpolation; frames in [0, 1]) and at least ten times smaller than the
frame-to-frame change (tested); :func:`warp_residual` measures it, and
chapter 1 prints the figures of its own run. Without nuisances, ``flow`` and
``expression_flow`` agree to 1e-4 px (tested), the precision of the inversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

# The faces and their features live in mer_lib.data.faces; the names below stay importable from here,
# where the chapters and earlier code found them.
from mer_lib.data.faces import (_LANDMARKS, SAMPLE_FACE_BOXES, Face, _canonical_face, _correlation,  # noqa: F401
                                _grey, _identities, face_ellipse, face_gallery, face_image, find_face_features,
                                sample_photographs)
from mer_lib.errors import UserInputError

__all__ = ["SynthME", "synthetic_dataset", "CLASS_NAMES", "ACTION_UNITS", "CLASS_AUS", "face_image", "Face",
           "face_gallery", "find_face_features", "warp_residual", "motion_figures", "face_ellipse"]

CLASS_NAMES = ("negative", "positive", "surprise")
#: The paper's Table 2: negative 67, positive 69, surprise 28.
PAPER_COUNTS = (67, 69, 28)


#: Action units as Gaussian bumps: (landmark, (dx, dy) in units of the amplitude, (sigma_x, sigma_y) px at 128).
ACTION_UNITS = {
    "AU1": [("brow_inner_l", (0.0, -1.0), (6, 5)), ("brow_inner_r", (0.0, -1.0), (6, 5))],
    "AU2": [("brow_outer_l", (0.0, -0.9), (6, 5)), ("brow_outer_r", (0.0, -0.9), (6, 5))],
    "AU4": [("brow_inner_l", (0.5, 0.8), (6, 5)), ("brow_inner_r", (-0.5, 0.8), (6, 5))],
    "AU5": [("lid_l", (0.0, -0.6), (7, 3)), ("lid_r", (0.0, -0.6), (7, 3))],
    "AU6": [("cheek_l", (0.0, -0.7), (8, 7)), ("cheek_r", (0.0, -0.7), (8, 7))],
    "AU9": [("nose_l", (-0.2, -0.8), (5, 5)), ("nose_r", (0.2, -0.8), (5, 5))],
    "AU12": [("mouth_l", (-0.7, -0.7), (6, 5)), ("mouth_r", (0.7, -0.7), (6, 5))],
    "AU15": [("mouth_l", (-0.2, 0.9), (6, 5)), ("mouth_r", (0.2, 0.9), (6, 5))],
    "AU26": [("chin", (0.0, 0.6), (12, 8)), ("lower_lip", (0.0, 0.5), (9, 5))],
}
_BLINK = [("lid_l", (0.0, 1.0), (7, 2.5)), ("lid_r", (0.0, 1.0), (7, 2.5))]

#: The AU combinations of each class (negative picks one of its two at random).
CLASS_AUS = {
    "negative": (("AU4", "AU15"), ("AU4", "AU9")),
    "positive": (("AU6", "AU12"),),
    "surprise": (("AU1", "AU2", "AU5", "AU26"),),
}
_AU_WEIGHT = {"AU26": 0.5}  # a slight jaw drop
SMOOTHING = 1.0  # anti-aliasing blur of the photograph, in output pixels


@dataclass
class SynthME:
    """A SynthME dataset: clips, ground-truth motion, labels and subjects.

    Attributes
    ----------
    frames : ndarray, shape (N, T, H, W), float32 in [0, 1]
        The clips (also available as ``clips``, the name of
        :class:`mer_lib.data.Dataset`).
    flow : ndarray, shape (N, T - 1, H, W, 2), float32
        Ground-truth displacement from frame t to t+1, ``flow[..., 0]``
        horizontal, ``flow[..., 1]`` vertical, in pixels, with
        ``frame_{t+1}(x + flow(x)) = frame_t(x)`` (before noise and flicker).
    labels : ndarray, shape (N,), int
        Indices into ``class_names``.
    subjects : ndarray, shape (N,), int
        Subject of each clip, 0 .. n_subjects - 1.
    apex : ndarray, shape (N,), int
        Index of the apex frame of each clip.
    class_names : tuple of str
    action_units : list of tuple of str
        The AUs of each clip.
    expression_flow : ndarray, shape (N, T - 1, H, W, 2), float32
        The part of ``flow`` due to the expression alone (no blink, no head motion).
    settings : dict
        The arguments the dataset was generated with.
    identity_names : tuple of str
        The face each subject is made of (``identity_names[subjects[i]]``).
    """

    frames: np.ndarray
    flow: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    apex: np.ndarray
    class_names: tuple
    action_units: list
    expression_flow: np.ndarray
    settings: dict = field(default_factory=dict)
    identity_names: tuple = ()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def clips(self) -> np.ndarray:
        """The clips, shape (N, T, H, W): ``frames`` under the name :class:`mer_lib.data.Dataset` gives them,
        so that :func:`mer_lib.pipeline.preprocess` and the experiments take either container."""
        return self.frames

    def counts(self) -> dict:
        """Clips per class name."""
        return {name: int((self.labels == i).sum()) for i, name in enumerate(self.class_names)}

    def label_names(self) -> list:
        """The class name of every clip."""
        return [self.class_names[i] for i in self.labels]

    def subset(self, index) -> "SynthME":
        """The clips selected by ``index`` (an index array or a boolean mask)."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return SynthME(self.frames[index], self.flow[index], self.labels[index], self.subjects[index],
                       self.apex[index], self.class_names, [self.action_units[i] for i in index],
                       self.expression_flow[index], dict(self.settings), tuple(self.identity_names))


def _bumps(spec, landmarks, scale, amplitude):
    """[(cx, cy, vx, vy, sx, sy)] for a list of (landmark, vector, sigma)."""
    out = []
    for name, (vx, vy), (sx, sy) in spec:
        cx, cy = landmarks[name]
        out.append((cx, cy, vx * amplitude * scale, vy * amplitude * scale, sx * scale, sy * scale))
    return out


def _field(bumps, x, y, reach=4.5, margin=8):
    """Displacement (dx, dy) of a sum of Gaussian bumps at points (x, y).

    ``x, y`` are (H, W) arrays of points near the pixel grid (within
    ``margin`` pixels), so each bump is evaluated only in the box of pixels
    within ``reach`` standard deviations of its centre (beyond, it is below
    4e-5 of its peak).
    """
    dx = np.zeros_like(x)
    dy = np.zeros_like(y)
    h, w = x.shape
    for cx, cy, vx, vy, sx, sy in bumps:
        r0, r1 = max(int(cy - reach * sy - margin), 0), min(int(cy + reach * sy + margin) + 1, h)
        c0, c1 = max(int(cx - reach * sx - margin), 0), min(int(cx + reach * sx + margin) + 1, w)
        if r0 >= r1 or c0 >= c1:
            continue
        bx, by = x[r0:r1, c0:c1], y[r0:r1, c0:c1]
        g = np.exp(-0.5 * (((bx - cx) / sx) ** 2 + ((by - cy) / sy) ** 2))
        dx[r0:r1, c0:c1] += vx * g
        dy[r0:r1, c0:c1] += vy * g
    return dx, dy


def _time_course(n_frames, apex, end_level):
    t = np.arange(n_frames, dtype=float)
    s = np.empty(n_frames)
    rise = t <= apex
    s[rise] = np.sin(0.5 * np.pi * t[rise] / max(apex, 1)) ** 2
    fall = ~rise
    span = max(n_frames - 1 - apex, 1)
    s[fall] = 1.0 - (1.0 - end_level) * np.sin(0.5 * np.pi * (t[fall] - apex) / span) ** 2
    return s


def _scaled(bumps, factor):
    return [(cx, cy, vx * factor, vy * factor, sx, sy) for cx, cy, vx, vy, sx, sy in bumps if factor]


def _render_clip(source, to_source, x, y, expr, blink, s, b, rot, shift, centre, tone, light, iterations=6):
    """Frames and flows of one clip; see the module docstring for the model."""
    n = len(s)
    frames = np.empty((n,) + x.shape)
    positions = []
    px, py = x.copy(), y.copy()
    for t in range(n):
        # q = R_t^{-1} (x - c - b_t) + c
        cos, sin = np.cos(rot[t]), np.sin(rot[t])
        ux, uy = x - centre[0] - shift[t, 0], y - centre[1] - shift[t, 1]
        qx, qy = cos * ux + sin * uy + centre[0], -sin * ux + cos * uy + centre[1]
        bumps = _scaled(expr, s[t]) + _scaled(blink, b[t])
        # solve p + U_t(p) = q by fixed-point iteration, starting from the previous frame's p
        for _ in range(iterations if bumps else 0):
            dx, dy = _field(bumps, px, py)
            px, py = qx - dx, qy - dy
        if not bumps:
            px, py = qx, qy
        positions.append((px, py))
        sx, sy = to_source(px, py)
        grey = ndimage.map_coordinates(source, [sy, sx], order=3, mode="reflect", prefilter=False)
        frames[t] = tone(grey) * light(px, py)
    flows, expr_flows = [], []
    for t in range(n - 1):
        px, py = positions[t]
        ex, ey = _field(expr, px, py)
        bx, by = _field(blink, px, py)
        wx = px + s[t + 1] * ex + b[t + 1] * bx - centre[0]
        wy = py + s[t + 1] * ey + b[t + 1] * by - centre[1]
        cos, sin = np.cos(rot[t + 1]), np.sin(rot[t + 1])
        nx = cos * wx - sin * wy + centre[0] + shift[t + 1, 0]
        ny = sin * wx + cos * wy + centre[1] + shift[t + 1, 1]
        flows.append(np.stack([nx - x, ny - y], axis=-1))
        expr_flows.append(np.stack([(s[t + 1] - s[t]) * ex, (s[t + 1] - s[t]) * ey], axis=-1))
    return frames, np.stack(flows), np.stack(expr_flows)


def _check_positive(name, value, integer=False):
    if integer:
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UserInputError(f"{name} must be a positive integer, got {value!r}")
    elif not np.isfinite(value) or value < 0:
        raise UserInputError(f"{name} must be a finite number >= 0, got {value!r}")


def _sided(bumps, spec, asymmetry):
    """Bumps of landmarks on the face's left (``_l``) scaled by 1 + asymmetry, on its right by 1 - asymmetry."""
    out = []
    for (cx, cy, vx, vy, sx, sy), (name, _, _) in zip(bumps, spec):
        k = 1 + asymmetry if name.endswith("_l") else 1 - asymmetry if name.endswith("_r") else 1.0
        out.append((cx, cy, vx * k, vy * k, sx, sy))
    return out


def _spline_source(face, scale):
    """(cubic-spline coefficients of the photograph, (a, b) canonical -> photograph).

    The photograph is low-passed to the output's resolution first (when it is
    finer), so that frames are not aliased and interpolating them (as a flow
    method or the tests do) is accurate. A photograph coarser than the output
    (the LFW faces) is not blurred: the cubic spline that samples it is already
    smooth, and holds no detail finer than its own pixels.
    """
    za, zb = face.to_image()
    sigma = SMOOTHING * abs(za) / scale  # photograph pixels per output pixel
    image = ndimage.gaussian_filter(face.image, sigma) if sigma > 0.5 else face.image
    return ndimage.spline_filter(image, order=3), (za, zb)


def warp_residual(frames, flow, margin=8):
    """How well a ground-truth flow explains a clip: the error left after warping each next frame back.

    Parameters
    ----------
    frames : ndarray, shape (T, H, W)
    flow : ndarray, shape (T - 1, H, W, 2)
        ``frame_{t+1}(x + flow_t(x)) = frame_t(x)`` is what is measured.
    margin : int
        Pixels left out at each border (where a warp looks outside the frame).

    Returns
    -------
    residual : ndarray, shape (T - 1,)
        Mean of ``|frame_{t+1}(x + flow_t(x)) - frame_t(x)|`` (cubic interpolation).
    change : ndarray, shape (T - 1,)
        Mean of ``|frame_{t+1}(x) - frame_t(x)|``: what the flow has to explain.
    """
    frames = np.asarray(frames, float)
    flow = np.asarray(flow, float)
    if frames.ndim != 3 or flow.shape != (frames.shape[0] - 1,) + frames.shape[1:] + (2,):
        raise UserInputError(f"frames must be (T, H, W) and flow (T - 1, H, W, 2), got {frames.shape} and {flow.shape}")
    h, w = frames.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w]
    inner = (slice(margin, h - margin), slice(margin, w - margin))
    residual, change = [], []
    for t in range(len(flow)):
        back = ndimage.map_coordinates(frames[t + 1], [yy + flow[t, ..., 1], xx + flow[t, ..., 0]], order=3,
                                       mode="nearest")
        residual.append(np.abs(back - frames[t])[inner].mean())
        change.append(np.abs(frames[t + 1] - frames[t])[inner].mean())
    return np.array(residual), np.array(change)


def motion_figures(data, size=64, threshold=0.1):
    """The figures that calibrate SynthME against real databases, per clip, at the network's input size.

    Parameters
    ----------
    data : SynthME
    size : int, default 64
        Displacements are rescaled to a ``size`` x ``size`` frame.
    threshold : float, default 0.1
        A face pixel "moves" when its expression displacement from onset to
        apex exceeds this many pixels (at ``size``).

    Returns
    -------
    dict of ndarray, each of shape (N,)
        ``peak``: the largest expression displacement from onset to apex (px);
        ``p95``: its 95th percentile over the face's pixels (px);
        ``share``: the share of the face's pixels that move;
        ``frames``: frames from onset to offset.
    """
    factor = size / data.frames.shape[-1]
    face = face_ellipse(data.frames.shape[-1])
    peak, p95, share = [], [], []
    for i in range(len(data)):
        disp = data.expression_flow[i, :data.apex[i]].sum(axis=0) * factor  # onset -> apex
        mag = np.hypot(disp[..., 0], disp[..., 1])[face]
        peak.append(mag.max())
        p95.append(np.percentile(mag, 95))
        share.append(np.mean(mag > threshold))
    return {"peak": np.array(peak), "p95": np.array(p95), "share": np.array(share),
            "frames": np.full(len(data), data.frames.shape[1])}


def synthetic_dataset(seed=0, counts=PAPER_COUNTS, n_subjects=22, n_frames=8, size=128, amplitude=1.0,
                      blinks=True, head_motion=True, noise=0.01, flicker=True, blink_probability=0.35,
                      blink_amplitude=3.0, progress=False, identities="faces") -> SynthME:
    """Generate SynthME, a synthetic micro-expression dataset with ground-truth motion.

    Parameters
    ----------
    seed : int
        The same seed gives identical arrays; another seed gives other clips.
    counts : tuple of 3 ints, default (67, 69, 28)
        Clips per class (negative, positive, surprise): the paper's Table 2.
    n_subjects : int, default 22
        Subjects differ in identity (see ``identities``), face geometry, skin
        tone, lighting, expression intensity and in how strongly, and how
        asymmetrically, each AU shows (CAS(ME)^2 has 22 subjects).
    n_frames : int, default 8
        Frames per clip, onset to offset (at least 3).
    size : int, default 128
        Frames are size x size pixels.
    amplitude : float, default 1.0
        Peak displacement of an AU at the apex, in pixels at 128 x 128 (it
        scales with ``size``), before the subject's and the clip's intensity
        factors (0.7-1.3 and 0.8-1.2).
    blinks, head_motion, flicker : bool
        Class-independent nuisances: large fast blinks (with probability
        ``blink_probability`` per clip, the lids moving ``blink_amplitude``
        pixels at 128), a small rigid head motion (a random walk of about 0.15
        px and 0.1 degree per frame), and illumination flicker (about 1.5%).
    noise : float, default 0.01
        Standard deviation of the Gaussian sensor noise (0 turns it off).
    progress : bool
        Show a progress bar.
    identities : "faces", "astronaut" or sequence of ndarray, default "faces"
        "faces": subject k is face k of :func:`face_gallery` (the astronaut,
        Grace Hopper, then distinct LFW faces: ``len(face_gallery())`` of
        them, at least 20), each with its own landmarks found by
        :func:`find_face_features`. "astronaut": every subject is the
        astronaut photograph (the library's first version of SynthME). A
        sequence of grey images (H, W) in [0, 1]: one face per subject, found
        with the Haar cascade (or taken as an LFW-like crop when none is
        found) and refused when its features are not found with confidence.

    Returns
    -------
    SynthME
        ``frames`` (N, T, H, W) float32 in [0, 1], ``flow`` (N, T-1, H, W, 2),
        ``labels``, ``subjects``, ``apex`` and more; N = sum(counts).

    Examples
    --------
    >>> data = synthetic_dataset(counts=(2, 2, 1), n_subjects=3, size=64)
    >>> data.frames.shape, data.flow.shape
    ((5, 8, 64, 64), (5, 7, 64, 64, 2))
    """
    counts = tuple(int(c) for c in counts)
    if len(counts) != len(CLASS_NAMES) or min(counts) < 0 or sum(counts) < 1:
        raise UserInputError(f"counts must be 3 non-negative ints (negative, positive, surprise), got {counts!r}")
    _check_positive("n_subjects", n_subjects, integer=True)
    _check_positive("size", size, integer=True)
    if not isinstance(n_frames, (int, np.integer)) or n_frames < 3:
        raise UserInputError(f"n_frames must be an integer >= 3, got {n_frames!r}")
    if size < 32:
        raise UserInputError(f"size must be at least 32 pixels, got {size}")
    for name, value in (("amplitude", amplitude), ("noise", noise), ("blink_amplitude", blink_amplitude)):
        _check_positive(name, value)
    if not 0 <= blink_probability <= 1:
        raise UserInputError(f"blink_probability must be in [0, 1], got {blink_probability!r}")

    faces = _identities(identities, n_subjects)
    rng = np.random.default_rng(seed)
    scale = size / 128.0
    n = sum(counts)
    labels = np.repeat(np.arange(len(CLASS_NAMES)), counts)
    rng.shuffle(labels)
    # Subjects have uneven numbers of clips, as in real databases; each has at least one.
    weights = rng.dirichlet(np.full(n_subjects, 2.0))
    subjects = np.concatenate([np.arange(min(n_subjects, n)),
                               rng.choice(n_subjects, size=max(n - n_subjects, 0), p=weights)])
    rng.shuffle(subjects)

    people = []
    for _ in range(n_subjects):
        people.append(dict(
            sx=rng.uniform(0.92, 1.08), sy=rng.uniform(0.92, 1.08), angle=np.deg2rad(rng.uniform(-3, 3)),
            tx=rng.uniform(-3, 3) * scale, ty=rng.uniform(-3, 3) * scale,
            gain=rng.uniform(0.8, 1.05), gamma=rng.uniform(0.8, 1.25), floor=rng.uniform(0.02, 0.08),
            light=rng.uniform(-0.15, 0.15, size=2), intensity=rng.uniform(0.7, 1.3),
            # idiosyncrasies: how strongly each AU shows in this person, and how much more on one side
            au_gain={au: float(np.clip(rng.lognormal(0.0, 0.25), 0.6, 1.6)) for au in sorted(ACTION_UNITS)},
            asymmetry=rng.uniform(-0.2, 0.2)))
    sources = [_spline_source(face, scale) for face in faces]

    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    centre = np.array([(size - 1) / 2, (size - 1) / 2])
    frames = np.empty((n, n_frames, size, size), np.float32)
    flow = np.empty((n, n_frames - 1, size, size, 2), np.float32)
    expr_flow = np.empty_like(flow)
    apex = np.empty(n, int)
    aus = []
    iterator = range(n)
    if progress:
        from mer_lib.env import progress_bar
        iterator = progress_bar(iterator, desc="SynthME clips")
    for i in iterator:
        person = people[subjects[i]]
        cos, sin = np.cos(person["angle"]), np.sin(person["angle"])
        # subject geometry G: canonical face coords (128 frame) -> output pixels
        a = np.array([[cos * person["sx"], -sin * person["sy"]], [sin * person["sx"], cos * person["sy"]]]) * scale
        t_out = centre + np.array([person["tx"], person["ty"]])
        c128 = np.array([63.5, 63.5])
        face = faces[subjects[i]]
        source, (za, zb) = sources[subjects[i]]
        landmarks = {k: tuple(a @ (np.array(v) - c128) + t_out) for k, v in face.landmarks.items()}
        a_inv = np.linalg.inv(a)

        def to_source(px, py, a_inv=a_inv, t_out=t_out, za=za, zb=zb):
            u = a_inv[0, 0] * (px - t_out[0]) + a_inv[0, 1] * (py - t_out[1]) + 63.5
            v = a_inv[1, 0] * (px - t_out[0]) + a_inv[1, 1] * (py - t_out[1]) + 63.5
            z = za * (u + 1j * v) + zb  # canonical 128 frame -> the photograph's pixels
            return z.real, z.imag

        def tone(grey, p=person):
            return p["floor"] + 0.9 * p["gain"] * np.clip(grey, 0, 1) ** p["gamma"]

        def light(px, py, p=person):
            return 1.0 + p["light"][0] * (px - centre[0]) / size + p["light"][1] * (py - centre[1]) / size

        name = CLASS_NAMES[labels[i]]
        choices = CLASS_AUS[name]
        combo = choices[rng.integers(len(choices))]
        aus.append(combo)
        strength = amplitude * person["intensity"] * rng.uniform(0.8, 1.2)
        expr = []
        for au in combo:
            jitter = {k: (v[0] + rng.normal(0, 1.0) * scale, v[1] + rng.normal(0, 1.0) * scale)
                      for k, v in landmarks.items()}
            expr += _sided(_bumps(ACTION_UNITS[au], jitter, scale,
                                  strength * _AU_WEIGHT.get(au, 1.0) * person["au_gain"][au]),
                           ACTION_UNITS[au], person["asymmetry"])
        apex[i] = rng.integers(max(1, n_frames // 2 - 2), n_frames - 2 + 1) if n_frames > 3 else 1
        s = _time_course(n_frames, apex[i], rng.uniform(0.0, 0.3))

        b = np.zeros(n_frames)
        blink_bumps = []
        if blinks and rng.random() < blink_probability:
            start = rng.integers(0, n_frames - 1)
            for k, level in enumerate((1.0, 0.35)):
                if start + k < n_frames:
                    b[start + k] = level
            blink_bumps = _bumps(_BLINK, landmarks, scale, blink_amplitude)
        if head_motion:
            shift = np.cumsum(rng.normal(0, 0.15 * scale, size=(n_frames, 2)), axis=0)
            rot = np.cumsum(np.deg2rad(rng.normal(0, 0.1, size=n_frames)))
            shift -= shift[0]
            rot -= rot[0]
        else:
            shift, rot = np.zeros((n_frames, 2)), np.zeros(n_frames)
        clip, f, ef = _render_clip(source, to_source, xx, yy, expr, blink_bumps, s, b, rot, shift,
                                   centre, tone, light)
        if flicker:
            clip *= (1.0 + 0.015 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * np.arange(n_frames)
                                          + rng.uniform(0, 2 * np.pi))
                     + rng.normal(0, 0.004, n_frames))[:, None, None]
        if noise > 0:
            clip = clip + rng.normal(0, noise, clip.shape)
        frames[i] = np.clip(clip, 0.0, 1.0)
        flow[i] = f
        expr_flow[i] = ef
    settings = dict(seed=seed, counts=counts, n_subjects=n_subjects, n_frames=n_frames, size=size,
                    amplitude=amplitude, blinks=blinks, head_motion=head_motion, noise=noise, flicker=flicker,
                    blink_probability=blink_probability, blink_amplitude=blink_amplitude,
                    identities=identities if isinstance(identities, str) else f"{len(faces)} images")
    return SynthME(frames, flow, labels, subjects.astype(int), apex, CLASS_NAMES, aus, expr_flow, settings,
                   tuple(face.name for face in faces))
