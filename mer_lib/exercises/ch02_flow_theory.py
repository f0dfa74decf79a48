"""Exercises of chapter 2, optical flow theory (book/02_optical_flow_theory.md)."""

import numpy as np
from scipy import ndimage

from mer_lib.exercises import Case, Exercise, register
from mer_lib.flow.common import gradient_centered, warp


def translation_flow(f0, f1, n_iter=10, margin=8):
    """One global translation (u, v) from f0 to f1, by Lucas-Kanade iterations (Gauss-Newton).

    Each iteration warps ``f1`` back by the current estimate (``mer_lib.flow.warp``), takes the derivatives
    of the mean of ``f0`` and the warped frame (``gradient_centered``) and their difference, solves the 2x2
    least-squares system over the frame less ``margin`` pixels at each border, and adds the solution.

    Parameters
    ----------
    f0, f1 : ndarray, shape (H, W)
    n_iter : int
        Iterations (0 gives (0, 0)).
    margin : int

    Returns
    -------
    ndarray, shape (2,)
        ``(u, v)`` with ``f1(x + (u, v)) ~ f0(x)``.
    """
    f0, f1 = np.asarray(f0, float), np.asarray(f1, float)
    inner = (slice(margin, f0.shape[0] - margin), slice(margin, f0.shape[1] - margin))
    d = np.zeros(2)
    for _ in range(n_iter):
        back = warp(f1, np.broadcast_to(d, f0.shape + (2,)))
        ix, iy = gradient_centered(0.5 * (f0 + back))
        it = back - f0
        ix, iy, it = ix[inner].ravel(), iy[inner].ravel(), it[inner].ravel()
        a = np.array([[ix @ ix, ix @ iy], [ix @ iy, iy @ iy]])
        d = d + np.linalg.solve(a, -np.array([ix @ it, iy @ it]))
    return d


def _smooth_texture(rng, size, sigma):
    """A random texture (Gaussian-smoothed noise) in [0, 1], drawn by the checker: inputs the chapter never shows."""
    t = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma)
    return (t - t.min()) / np.ptp(t)


def _shifted(image, u, v):
    return ndimage.shift(image, (v, u), order=3, mode="nearest")


def _translation_cases():
    rng = np.random.default_rng(31)
    cases = []
    for label, sigma, (u, v), n in (("a texture moved by (1.7, -0.9) px, 10 iterations", 3, (1.7, -0.9), 10),
                                    ("a coarse texture moved by (-3.2, 2.1) px, 10 iterations", 4, (-3.2, 2.1), 10),
                                    ("a texture moved by (0.3, 0.2) px, 10 iterations", 2, (0.3, 0.2), 10),
                                    ("one iteration only (a single linear step)", 3, (1.2, 0.8), 1),
                                    ("no iteration at all (n_iter = 0)", 3, (0.5, 0.5), 0),
                                    ("a texture that does not move", 3, (0.0, 0.0), 5)):
        f0 = _smooth_texture(rng, 64, sigma)
        cases.append(Case(label, (f0, _shifted(f0, u, v)), {"n_iter": n}))
    return cases


def _translation_compare(got, expected, case):
    got = np.asarray(got, dtype=float)
    if got.shape != (2,):
        return f"return array([u, v]), shape (2,); got shape {got.shape}"
    if not np.all(np.isfinite(got)):
        return f"got {got}: not finite"
    tol = 1e-4 if case.kwargs["n_iter"] <= 1 else 5e-3
    if np.hypot(*(got - expected)) > tol:
        return f"expected about {np.round(expected, 4)}, got {np.round(got, 4)}"
    return None


register(Exercise("flow_theory.translation_flow", _translation_cases, translation_flow, compare=_translation_compare,
                  advice={"a texture moved by (1.7, -0.9) px, 10 iterations":
                          "one linear step is only as good as the linearisation: after it, bring f1 back by "
                          "your current estimate and solve again for what is left, adding each answer to the "
                          "estimate rather than replacing it.",
                          "a coarse texture moved by (-3.2, 2.1) px, 10 iterations":
                          "check the direction of the warp: with the library's convention, warp(f1, flow) "
                          "brings f1 back onto f0.",
                          "one iteration only (a single linear step)":
                          "one iteration is one least-squares step from zero: the derivatives of the mean of "
                          "the two frames, the difference f1 - f0, the frame less its margin.",
                          "no iteration at all (n_iter = 0)": "no iteration leaves the estimate where it starts.",
                          "a texture that does not move": "nothing moves: the estimate must stay at (0, 0)."}))


def normal_flow(ix, iy, it):
    """The flow component along the image gradient: -It grad I / |grad I|^2, shape (..., 2); 0 where grad I = 0."""
    ix, iy, it = (np.asarray(a, dtype=float) for a in (ix, iy, it))
    g2 = ix * ix + iy * iy
    scale = np.divide(-it, g2, out=np.zeros_like(g2), where=g2 > 1e-12)
    return np.stack([scale * ix, scale * iy], axis=-1)


def _normal_cases():
    rng = np.random.default_rng(3)
    return [Case("a vertical edge (Ix = 2, Iy = 0, It = -1)", (2.0, 0.0, -1.0)),
            Case("an oblique gradient", (1.0, 1.0, 0.5)),
            Case("random 4x4 maps", tuple(rng.standard_normal((3, 4, 4)))),
            Case("a flat region (zero gradient)", (np.zeros(3), np.zeros(3), np.ones(3)))]


register(Exercise("flow_theory.normal_flow", _normal_cases, normal_flow,
                  advice={"a flat region (zero gradient)": "where the gradient is zero nothing can be measured: "
                                                            "return 0 there, not NaN.",
                          "a vertical edge (Ix = 2, Iy = 0, It = -1)": "stack (u, v) on the last axis."}))


def lucas_kanade(f0, f1, radius=2, min_eigenvalue=1e-4):
    """Dense Lucas-Kanade flow: at each pixel, the least-squares flow of its (2r+1) x (2r+1) window.

    Derivatives as in the chapter: ``gradient_centered`` of the mean of the two frames, and ``f1 - f0``.
    A pixel whose window matrix has a smallest eigenvalue below ``min_eigenvalue`` (an aperture problem, or
    no texture) gets NaN.

    Parameters
    ----------
    f0, f1 : ndarray, shape (H, W)
    radius : int
    min_eigenvalue : float

    Returns
    -------
    ndarray, shape (H, W, 2)
        NaN where the window does not determine the flow. Pixels within ``radius`` of the border are
        computed with any treatment of the outside (the checker compares the others).
    """
    f0, f1 = np.asarray(f0, float), np.asarray(f1, float)
    ix, iy = gradient_centered(0.5 * (f0 + f1))
    it = f1 - f0
    size = 2 * radius + 1
    window_sum = lambda a: ndimage.uniform_filter(a, size, mode="constant") * size * size
    a, b, c = window_sum(ix * ix), window_sum(ix * iy), window_sum(iy * iy)
    p, q = window_sum(ix * it), window_sum(iy * it)
    det = a * c - b * b
    mean = 0.5 * (a + c)
    smallest = mean - np.sqrt(np.maximum(mean * mean - det, 0.0))
    ok = smallest >= min_eigenvalue
    safe = np.where(ok, det, 1.0)
    u = np.where(ok, (b * q - c * p) / safe, np.nan)
    v = np.where(ok, (b * p - a * q) / safe, np.nan)
    return np.stack([u, v], axis=-1)


def _lk_cases():
    rng = np.random.default_rng(32)
    tex = _smooth_texture(rng, 40, 2)
    u, v = rng.uniform(-0.4, 0.4, 2)
    yy, xx = np.mgrid[0:40, 0:40].astype(float)
    grating = lambda shift: 0.5 + 0.4 * np.sin(0.5 * (xx - shift) + 0.3 * yy)
    halves0 = _smooth_texture(rng, 40, 2)
    halves1 = np.where(xx < 20, _shifted(halves0, 0.3, 0.0), _shifted(halves0, -0.3, 0.0))
    flat = np.full((24, 24), 0.4)
    faint = 0.5 + 0.02 * (_smooth_texture(rng, 32, 3) - 0.5)
    faint1 = _shifted(faint, 0.2, -0.1)
    ix, iy = gradient_centered(0.5 * (faint + faint1))     # a threshold that leaves half of the windows out
    box = lambda a: ndimage.uniform_filter(a, 5, mode="constant") * 25
    a, b, c = box(ix * ix), box(ix * iy), box(iy * iy)
    smallest = 0.5 * (a + c) - np.sqrt(np.maximum(0.25 * (a - c) ** 2 + b * b, 0.0))
    threshold = float(np.median(smallest[3:-3, 3:-3]))
    return [Case("a texture moved by a random sub-pixel amount, radius 2", (tex, _shifted(tex, u, v)),
                 {"radius": 2, "min_eigenvalue": 1e-9}),
            Case("the same texture, radius 4", (tex, _shifted(tex, u, v)), {"radius": 4, "min_eigenvalue": 1e-9}),
            Case("two halves moving apart, radius 3", (halves0, halves1), {"radius": 3, "min_eigenvalue": 1e-9}),
            Case("a moving grating (one gradient direction)", (grating(0.0), grating(0.3)),
                 {"radius": 3, "min_eigenvalue": 1e-6}),
            Case("a flat image (no texture)", (flat, flat + 0.01), {"radius": 2, "min_eigenvalue": 1e-6}),
            Case("a faint texture, half of whose windows fall below min_eigenvalue", (faint, faint1),
                 {"radius": 2, "min_eigenvalue": threshold}),
            Case("radius 0 (a window of one pixel)", (tex, _shifted(tex, u, v)),
                 {"radius": 0, "min_eigenvalue": 1e-9})]


def _lk_compare(got, expected, case):
    got = np.asarray(got, dtype=float)
    if got.shape != expected.shape:
        return f"expected shape {expected.shape} (H, W, 2), got {got.shape}"
    r = case.kwargs["radius"] + 1
    g, e = got[r:-r, r:-r], expected[r:-r, r:-r]
    unknown_e, unknown_g = np.isnan(e[..., 0]), ~np.isfinite(g).all(axis=-1)
    if np.any(unknown_e & ~unknown_g):
        at = tuple(int(i) + r for i in np.argwhere(unknown_e & ~unknown_g)[0])
        return (f"at {at} the window does not determine the flow (its smallest eigenvalue is below "
                f"min_eigenvalue): expected NaN, got {np.round(got[at], 4)}")
    if np.any(~unknown_e & unknown_g):
        at = tuple(int(i) + r for i in np.argwhere(~unknown_e & unknown_g)[0])
        return f"at {at} expected {np.round(expected[at], 4)}, got {got[at]} (the window is well conditioned)"
    if not np.allclose(g[~unknown_e], e[~unknown_e], rtol=1e-5, atol=1e-6):
        at = tuple(int(i) + r for i in np.argwhere(~np.isclose(g, e, rtol=1e-5, atol=1e-6).all(-1) & ~unknown_e)[0])
        return f"at {at}: expected {np.round(expected[at], 5)}, got {np.round(got[at], 5)}"
    return None


register(Exercise("flow_theory.lucas_kanade", _lk_cases, lucas_kanade, compare=_lk_compare,
                  advice={"a texture moved by a random sub-pixel amount, radius 2":
                          "each pixel solves its own 2x2 system, whose entries are sums of products of the "
                          "derivatives over the window around it: sums over a sliding window are a filter.",
                          "the same texture, radius 4": "the window is (2 radius + 1) pixels on a side, centred "
                                                        "on the pixel; a sum, not a mean.",
                          "a moving grating (one gradient direction)":
                          "every window of a grating has one gradient direction: its matrix is singular. Test "
                          "the smallest eigenvalue of each window's 2x2 matrix (a symmetric 2x2 matrix's "
                          "eigenvalues follow from its trace and determinant) and return NaN there.",
                          "a flat image (no texture)": "no gradient at all: both eigenvalues are 0; return NaN, "
                                                       "not 0 and not inf.",
                          "a faint texture, half of whose windows fall below min_eigenvalue":
                          "compare min_eigenvalue with the smallest eigenvalue of the matrix of sums itself "
                          "(not of a mean, nor of a normalised matrix).",
                          "radius 0 (a window of one pixel)": "one pixel gives one equation for two unknowns: "
                                                              "what does your eigenvalue test say about it?"}))


def flow_to_hsv(flow, max_flow):
    """Colour-code a flow (H, W, 2) as HSV in [0, 1]: hue the direction (0 = right, growing towards
    down, rows pointing down), saturation min(|flow| / max_flow, 1), value 1."""
    flow = np.asarray(flow, dtype=float)
    u, v = flow[..., 0], flow[..., 1]
    hue = np.mod(np.arctan2(v, u) / (2 * np.pi), 1.0)
    saturation = np.minimum(np.hypot(u, v) / max_flow, 1.0)
    return np.stack([hue, saturation, np.ones_like(hue)], axis=-1)


def _hsv_cases():
    rng = np.random.default_rng(11)
    four = np.array([[[1.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [0.0, -1.0]]])   # right, down / left, up
    return [Case("four unit motions: right, down, left, up (hue 0, 1/4, 1/2, 3/4)", (four, 1.0)),
            Case("a motion down-left at half the largest speed", (np.array([[[-0.5, 0.5]]]) / np.sqrt(2), 1.0)),
            Case("motions faster than max_flow", (np.array([[[3.0, 0.0], [0.0, -2.0]]]), 1.5)),
            Case("no motion", (np.zeros((2, 3, 2)), 1.0)),
            Case("a random 5x4 field, max_flow 2", (rng.normal(0, 1, (5, 4, 2)), 2.0))]


def _hsv_compare(got, expected, case):
    got = np.asarray(got, dtype=float)
    if got.shape != expected.shape:
        return f"expected shape {expected.shape} (H, W, 3), got {got.shape}"
    dh = np.abs(got[..., 0] - expected[..., 0])
    dh = np.minimum(dh, 1 - dh)   # hue is circular: 0 and 1 are the same colour
    sat = expected[..., 1] > 1e-9  # hue means nothing where nothing moves
    if np.any(dh[sat] > 1e-6):
        at = tuple(int(i) for i in np.argwhere(sat & (dh > 1e-6))[0])
        return f"hue at {at}: expected {expected[at][0]:.4f}, got {got[at][0]:.4f}"
    for k, name in ((1, "saturation"), (2, "value")):
        if not np.allclose(got[..., k], expected[..., k], atol=1e-6):
            at = tuple(int(i) for i in np.argwhere(~np.isclose(got[..., k], expected[..., k], atol=1e-6))[0])
            return f"{name} at {at}: expected {expected[at][k]:.4f}, got {got[at][k]:.4f}"
    return None


register(Exercise("flow_theory.flow_to_hsv", _hsv_cases, flow_to_hsv, compare=_hsv_compare,
                  advice={"four unit motions: right, down, left, up (hue 0, 1/4, 1/2, 3/4)":
                          "look at which motion got which hue: 'down' is v > 0 (rows grow downwards), and a "
                          "hue must be in [0, 1), so negative angles need wrapping.",
                          "motions faster than max_flow": "saturation stops at 1 for motions above max_flow.",
                          "no motion": "a still pixel is white: saturation 0 (and no NaN).",
                          "a motion down-left at half the largest speed": "saturation is the speed (the "
                          "vector's length) over max_flow."}))
