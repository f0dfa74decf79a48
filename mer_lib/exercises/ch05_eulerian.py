"""Exercises of chapter 5, Eulerian magnification (book/05_eulerian_magnification.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register


def taylor_magnify(frame0, frame_t, alpha):
    """First-order (linear) magnification of frame t against the reference frame 0."""
    frame0, frame_t = np.asarray(frame0, float), np.asarray(frame_t, float)
    return frame_t + alpha * (frame_t - frame0)


def _magnify_cases():
    rng = np.random.default_rng(11)
    a, b = rng.random((2, 6, 7))
    return [Case("a single pixel, alpha = 10", (np.array([0.5]), np.array([0.6]), 10.0)),
            Case("6x7 frames, alpha = 20", (a, b, 20.0)),
            Case("alpha = -1 (motion removed)", (a, b, -1.0)),
            Case("8-bit frames", ((a * 255).astype(np.uint8), (b * 255).astype(np.uint8), 5.0))]


register(Exercise("eulerian.taylor_magnify", _magnify_cases, taylor_magnify,
                  advice={"8-bit frames": "convert to float before subtracting: uint8 wraps around.",
                          "alpha = -1 (motion removed)": "frame_t + alpha (frame_t - frame0): with alpha = -1 "
                                                         "you get frame0 back."}))


def magnify_one_band(frames, alpha):
    """Eulerian magnification with a two-level pyramid: amplify the band's change since frame 0, keep the low-pass."""
    from mer_lib.magnify.common import pyr_down, pyr_up

    frames = np.asarray(frames, float)
    lows = np.stack([pyr_up(pyr_down(f), f.shape) for f in frames])
    bands = frames - lows
    return lows + bands + alpha * (bands - bands[0])


def _band_cases():
    from mer_lib.magnify.testdata import grating_clip

    rng = np.random.default_rng(15)
    clip = rng.random((3, 16, 20))
    return [Case("a random 3x16x20 clip, alpha = 10", (clip, 10.0)),
            Case("alpha = 0 (the clip comes back)", (clip, 0.0)),
            Case("a moving grating of wavelength 4 px, alpha = 5", (grating_clip(0.1, 4.0, size=32), 5.0)),
            Case("8-bit frames", ((clip * 255).astype(np.uint8), 3.0)),
            Case("odd-sized frames (15x17)", (rng.random((2, 15, 17)), 2.0))]


register(Exercise("eulerian.magnify_one_band", _band_cases, magnify_one_band,
                  advice={"a random 3x16x20 clip, alpha = 10": "low_t = pyr_up(pyr_down(f_t), f_t.shape), "
                                                               "band_t = f_t - low_t; amplify band_t - band_0 "
                                                               "(frame 0's band), not band_t itself.",
                          "alpha = 0 (the clip comes back)": "low + band is the frame: with alpha = 0 nothing "
                                                             "changes.",
                          "8-bit frames": "convert to float first: uint8 differences wrap around.",
                          "odd-sized frames (15x17)": "pass each frame's own shape to pyr_up."}))


def max_alpha(delta, wavelength):
    """The largest alpha for which the first-order bound (1 + alpha) delta < wavelength / 8 holds."""
    return wavelength / (8.0 * delta) - 1.0


register(Exercise("eulerian.max_alpha",
                  lambda: [Case("delta = 0.1 px, wavelength 16 px", (0.1, 16.0)),
                           Case("delta = 0.05 px, wavelength 8 px", (0.05, 8.0)),
                           Case("delta = 2 px, wavelength 16 px", (2.0, 16.0))],
                  max_alpha,
                  advice={"delta = 2 px, wavelength 16 px": "the bound can leave no room at all: alpha = 0 "
                                                            "already reaches lambda / 8."}))
