"""The checkers of chapter 14 (mer_lib/exercises/ch14_attribution.py) catch the usual mistakes."""

import numpy as np

from mer_lib.exercises import check
from mer_lib.exercises.ch14_attribution import ig_riemann, inside_share, occlusion_map


def test_the_references_pass():
    for name, function in [("attribution.occlusion_map", occlusion_map), ("attribution.ig_riemann", ig_riemann),
                           ("attribution.inside_share", inside_share)]:
        assert check(name, function, quiet=True).passed, name


def test_occlusion_checker_catches_a_drop_of_the_wrong_sign_and_a_patch_hidden_in_one_frame():
    result = check("attribution.occlusion_map", lambda *a: -occlusion_map(*a), quiet=True)
    assert not result.passed

    def first_frame_only(predict, clip, target, patch):
        clip = np.asarray(clip, dtype=float)
        t, h, w = clip.shape
        p0 = predict(clip[None])[0, target]
        out = np.zeros((h // patch, w // patch))
        for i in range(h // patch):
            for j in range(w // patch):
                y = clip.copy()
                y[0, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch] = 0.0
                out[i, j] = p0 - predict(y[None])[0, target]
        return out

    assert not check("attribution.occlusion_map", first_frame_only, quiet=True).passed


def test_ig_checker_catches_the_left_sum_and_a_missing_factor():
    def left(grad_fn, x, baseline, steps):
        x, baseline = np.asarray(x, float), np.asarray(baseline, float)
        total = sum(grad_fn(baseline + (k / steps) * (x - baseline)) for k in range(steps))
        return (x - baseline) * total / steps

    result = check("attribution.ig_riemann", left, quiet=True)
    assert not result.passed and "alpha" in result.message

    def times_x(grad_fn, x, baseline, steps):
        x, baseline = np.asarray(x, float), np.asarray(baseline, float)
        total = sum(grad_fn(baseline + (k / steps) * (x - baseline)) for k in range(1, steps + 1))
        return x * total / steps

    result = check("attribution.ig_riemann", times_x, quiet=True)
    assert not result.passed and "(x - x')" in result.message


def test_share_checker_catches_magnitudes_and_a_zero_for_a_map_without_positive_mass():
    def magnitude(attribution, mask):
        a = np.abs(np.asarray(attribution, float))
        return float(a[np.asarray(mask, bool)].sum() / a.sum())

    result = check("attribution.inside_share", magnitude, quiet=True)
    assert not result.passed and "positive part" in result.message

    def zero(attribution, mask):
        value = inside_share(attribution, mask)
        return 0.0 if np.isnan(value) else value

    result = check("attribution.inside_share", zero, quiet=True)
    assert not result.passed and "NaN" in result.message
