"""Exercises of chapter 2, optical flow theory (book/02_optical_flow_theory.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register


def brightness_residual(ix, iy, it, u, v):
    """The linearised brightness-constancy residual Ix u + Iy v + It (the paper's equation 1)."""
    return np.asarray(ix) * u + np.asarray(iy) * v + np.asarray(it)


def _residual_cases():
    rng = np.random.default_rng(2)
    ix, iy, it = rng.standard_normal((3, 5, 6))
    return [Case("scalars", (1.0, 2.0, -3.0, 1.0, 1.0)),
            Case("5x6 derivative maps, one flow vector", (ix, iy, it, 0.3, -0.2)),
            Case("5x6 derivative maps and flow maps", (ix, iy, it, rng.standard_normal((5, 6)),
                                                       rng.standard_normal((5, 6))))]


register(Exercise("flow_theory.brightness_residual", _residual_cases, brightness_residual,
                  advice={"scalars": "with u = v = 1 this case is Ix + Iy + It; check the sign with which the "
                                     "change between the frames enters equation (1).",
                          "5x6 derivative maps and flow maps": "u and v may be maps as well as numbers: use "
                                                               "element-wise products, not a matrix product."}))


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


def window_flow(ix, iy, it):
    """Least-squares flow of one window: solve [sum IxIx, sum IxIy; sum IxIy, sum IyIy] (u, v) = -(sum IxIt, sum IyIt)."""
    ix, iy, it = (np.ravel(np.asarray(a, dtype=float)) for a in (ix, iy, it))
    a = np.array([[ix @ ix, ix @ iy], [ix @ iy, iy @ iy]])
    b = -np.array([ix @ it, iy @ it])
    return np.linalg.solve(a, b)


def _window_cases():
    rng = np.random.default_rng(4)
    cases = []
    for label, (u, v) in (("a window moving right", (0.5, 0.0)), ("a window moving up-left", (-0.3, -0.4)),
                          ("a larger window", (0.2, 0.7))):
        n = 25 if label != "a larger window" else 81
        ix, iy = rng.standard_normal((2, n))
        it = -(ix * u + iy * v) + rng.normal(0, 0.01, n)
        cases.append(Case(label, (ix, iy, it)))
    return cases


register(Exercise("flow_theory.window_flow", _window_cases, window_flow, rtol=1e-6, atol=1e-8,
                  advice={"a window moving right": "the answer should be close to (0.5, 0): the flow that "
                                                   "minimises the sum of squared residuals over the whole "
                                                   "window, returned as array([u, v]).",
                          "a window moving up-left": "both components negative here: check the sign of the "
                                                     "right-hand side of the 2x2 system."}))


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
