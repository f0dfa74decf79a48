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


def linear_noise_std(alpha, sigma):
    """Noise of I_t + alpha (I_t - I_0) when each frame has independent noise of std sigma."""
    return float(np.sqrt((1 + alpha) ** 2 + alpha ** 2) * sigma)


register(Exercise("eulerian.linear_noise_std",
                  lambda: [Case("alpha = 0", (0.0, 0.01)), Case("alpha = 10, sigma = 0.01", (10.0, 0.01)),
                           Case("alpha = 20, sigma = 0.02", (20.0, 0.02))],
                  linear_noise_std,
                  advice={"alpha = 10, sigma = 0.01": "(1 + alpha) n_t - alpha n_0: independent noises add in "
                                                      "quadrature."}))


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
