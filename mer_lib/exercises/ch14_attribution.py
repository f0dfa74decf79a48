"""Exercises of chapter 14, where the network looks (book/14_where_the_network_looks.md).

The references are plain NumPy, independent of ``mer_lib.attribution``: the
occlusion map by loops, integrated gradients by the right Riemann sum of
Sundararajan et al. on functions whose gradient is known in closed form, the
inside-region share by its definition. The checkers call the student's
functions on models and images the chapter never shows.
"""

import numpy as np

from mer_lib.exercises import Case, Exercise, register


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class _LinearSoftmax:
    """predict(clips (N, T, H, W)) -> (N, K): a softmax of a linear function of the clip, optionally masked."""

    def __init__(self, weights, bias, mask=None):
        self.weights, self.bias, self.mask = weights, bias, mask

    def __call__(self, clips):
        clips = np.asarray(clips, dtype=float)
        if self.mask is not None:
            clips = clips * self.mask
        return _softmax(clips.reshape(len(clips), -1) @ self.weights + self.bias)

    def __repr__(self):
        return "a predict function"


class _Quadratic:
    """predict: a softmax of logits that depend on squared pixel values (a non-linear model)."""

    def __init__(self, weights):
        self.weights = weights

    def __call__(self, clips):
        clips = np.asarray(clips, dtype=float)
        return _softmax((clips ** 2).reshape(len(clips), -1) @ self.weights)

    def __repr__(self):
        return "a predict function"


def occlusion_map(predict, clip, target, patch):
    """Occlusion over space with tiling patches: grid of drops in the target's probability.

    clip (T, H, W), H and W multiples of patch -> (H // patch, W // patch); the patch is set to 0 in every frame.
    """
    clip = np.asarray(clip, dtype=float)
    t, h, w = clip.shape
    p0 = predict(clip[None])[0, target]
    out = np.zeros((h // patch, w // patch))
    for i in range(h // patch):
        for j in range(w // patch):
            hidden = clip.copy()
            hidden[:, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch] = 0.0
            out[i, j] = p0 - predict(hidden[None])[0, target]
    return out


def _occlusion_cases():
    rng = np.random.default_rng(1401)
    shape = (3, 8, 8)
    region = np.zeros(shape)
    region[:, 4:8, 0:4] = 1.0                    # the model reads one corner only
    corner = _LinearSoftmax(rng.normal(0, 1, (192, 3)), np.zeros(3), region)
    dense = _LinearSoftmax(rng.normal(0, 0.5, (192, 3)), rng.normal(0, 0.1, 3))
    last_frame = np.zeros((2, 6, 4))
    last_frame[1] = 1.0
    one_frame = _LinearSoftmax(rng.normal(0, 1, (48, 2)), np.zeros(2), last_frame)
    wide = _Quadratic(rng.normal(0, 0.3, (2 * 4 * 12, 3)))
    return [Case("a model that reads the lower-left corner only, patches of 4", (corner, rng.normal(size=shape), 1, 4)),
            Case("a linear model of the whole clip, patches of 2", (dense, rng.normal(size=shape), 2, 2)),
            Case("a 6x4 clip of 2 frames whose model reads the last frame, patches of 2",
                 (one_frame, rng.normal(size=(2, 6, 4)), 0, 2)),
            Case("a non-linear model, a 4x12 clip, patches of 4", (wide, rng.normal(size=(2, 4, 12)), 0, 4))]


register(Exercise(
    "attribution.occlusion_map", _occlusion_cases, occlusion_map, rtol=1e-6, atol=1e-9,
    advice={"a model that reads the lower-left corner only, patches of 4":
                "only the patches over what the model reads can change its answer: the others should give "
                "exactly 0. Is the drop the probability before minus after, for the target class?",
            "a linear model of the whole clip, patches of 2":
                "one value per patch position: the output has H // patch rows and W // patch columns, and a "
                "patch hides the same pixels in every frame.",
            "a 6x4 clip of 2 frames whose model reads the last frame, patches of 2":
                "the clip is not square: rows and columns have their own number of patches.",
            "a non-linear model, a 4x12 clip, patches of 4":
                "occlude a copy: each patch is hidden alone, with every other patch as it was."}))


def _sigmoid_model(w, b):
    """F(x) = sigmoid(w . x + b) and its gradient: a model whose gradient is known in closed form."""
    def f(x):
        return 1 / (1 + np.exp(-(np.sum(w * x) + b)))

    def grad(x):
        p = f(x)
        return p * (1 - p) * w
    return f, grad


class _Gradient:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(np.asarray(x, dtype=float))

    def __repr__(self):
        return "a gradient function"


def ig_riemann(grad_fn, x, baseline, steps):
    """Integrated gradients by the right Riemann sum: (x - x') * mean over k = 1..m of grad(x' + k/m (x - x'))."""
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    total = np.zeros_like(x)
    for k in range(1, steps + 1):
        total += grad_fn(baseline + (k / steps) * (x - baseline))
    return (x - baseline) * total / steps


def _ig_cases():
    rng = np.random.default_rng(1402)
    w = rng.normal(size=(3, 4))
    _, sig_grad = _sigmoid_model(w, 0.2)
    a = rng.normal(size=5)
    cubic = _Gradient(lambda x: 3 * a * x ** 2)           # F = sum a x^3
    coupled = _Gradient(lambda x: np.array([x[1], x[0]]))  # F = x0 x1
    return [Case("F = sum of a x^3 (the gradient grows along the path), 1 step", (cubic, rng.normal(size=5),
                                                                                 np.zeros(5), 1)),
            Case("F = sum of a x^3, 7 steps, baseline 0", (cubic, rng.normal(size=5), np.zeros(5), 7)),
            Case("F = x0 x1 from a baseline that is not 0, 4 steps",
                 (coupled, np.array([2.0, -1.0]), np.array([0.5, 0.5]), 4)),
            Case("a sigmoid of a linear function of a 3x4 input, 16 steps",
                 (_Gradient(sig_grad), rng.normal(size=(3, 4)), rng.normal(size=(3, 4)) * 0.1, 16))]


register(Exercise(
    "attribution.ig_riemann", _ig_cases, ig_riemann, rtol=1e-7, atol=1e-10,
    advice={"F = sum of a x^3 (the gradient grows along the path), 1 step":
                "with one step the right Riemann sum evaluates the gradient once, at the end of the path (alpha "
                "= 1), not at its start.",
            "F = sum of a x^3, 7 steps, baseline 0":
                "the points are alpha = k / m for k = 1 .. m; the average gradient is multiplied by (x - x').",
            "F = x0 x1 from a baseline that is not 0, 4 steps":
                "the path starts at the baseline: x' + alpha (x - x'), and the factor is (x - x'), not x.",
            "a sigmoid of a linear function of a 3x4 input, 16 steps":
                "the attribution has the input's shape: one number per input element."}))


def inside_share(attribution, mask):
    """The share of the map's positive mass inside the mask; NaN when the map has no positive mass."""
    a = np.maximum(np.asarray(attribution, dtype=float), 0.0)
    total = a.sum()
    return float(a[np.asarray(mask, bool)].sum() / total) if total > 0 else float("nan")


def _share_cases():
    rng = np.random.default_rng(1403)
    mask = rng.random((10, 12)) < 0.2
    return [Case("a map of positive numbers", (rng.random((10, 12)), mask)),
            Case("a signed map (a drop can be negative)", (rng.normal(size=(10, 12)), mask)),
            Case("a map with its mass inside the region only", (np.where(mask, 1.0, 0.0), mask)),
            Case("a map with no positive value", (-rng.random((10, 12)), mask))]


def _compare_share(got, expected, case):
    try:
        value = float(got)
    except (TypeError, ValueError):
        return f"expected one number, got {got!r}"
    if np.isnan(expected):
        return None if np.isnan(value) else f"expected NaN (a map with no positive mass has no share), got {value!r}"
    return None if abs(value - expected) <= 1e-9 else f"expected {expected:.6f}, got {value:.6f}"


register(Exercise(
    "attribution.inside_share", _share_cases, inside_share, compare=_compare_share,
    advice={"a signed map (a drop can be negative)":
                "only what speaks for the class counts: take the positive part of the map, inside and in the "
                "total alike.",
            "a map with no positive value": "dividing by a total of 0: return NaN (float('nan')), a share that "
                                            "does not exist.",
            "a map with its mass inside the region only": "all of the mass inside: the share is 1."}))
