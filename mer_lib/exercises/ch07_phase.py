"""Exercises of chapter 7, phase-based magnification (book/07_phase_based_magnification.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register


def wrapped_phase_difference(band, reference):
    """Phase of band relative to reference, wrapped to (-pi, pi]: angle(band * conj(reference))."""
    return np.angle(np.asarray(band) * np.conj(np.asarray(reference)))


def _wrapped_cases():
    rng = np.random.default_rng(12)
    a = rng.standard_normal((4, 5)) + 1j * rng.standard_normal((4, 5))
    b = rng.standard_normal((4, 5)) + 1j * rng.standard_normal((4, 5))
    return [Case("a small phase advance", (np.exp(1j * 0.3), np.exp(1j * 0.1))),
            Case("across the wrap (phases 3.0 and -3.0)", (np.exp(1j * 3.0), np.exp(-1j * 3.0))),
            Case("random complex 4x5 bands", (a, b))]


register(Exercise("phase.wrapped_phase_difference", _wrapped_cases, wrapped_phase_difference,
                  advice={"across the wrap (phases 3.0 and -3.0)": "subtracting the two angles gives 6.0 here, "
                                                                  "outside (-pi, pi]: what is the angle between "
                                                                  "the two coefficients?"}))


def magnify_1d(signal0, signal_t, alpha):
    """Phase-based magnification of a 1D signal with one band, its analytic signal (means removed, then restored)."""
    from scipy.signal import hilbert

    s0, st = np.asarray(signal0, float), np.asarray(signal_t, float)
    a, b = hilbert(s0 - s0.mean()), hilbert(st - st.mean())
    return np.real(b * np.exp(1j * alpha * np.angle(b * np.conj(a)))) + st.mean()


def _magnify_1d_cases():
    x = np.arange(64)
    sine = lambda d, lam=16.0: np.cos(2 * np.pi * (x - d) / lam)  # noqa: E731
    rng = np.random.default_rng(17)
    smooth = np.convolve(rng.standard_normal(80), np.ones(9) / 9, mode="same")[8:72]
    return [Case("a sinusoid moved 0.3 px, alpha = 5", (sine(0.0), sine(0.3), 5.0)),
            Case("a sinusoid on a bright background (mean 2)", (sine(0.0) + 2, sine(0.2) + 2, 4.0)),
            Case("alpha = 0 (the frame comes back)", (sine(0.0, 8.0), sine(0.5, 8.0), 0.0)),
            Case("a smooth random signal, alpha = 3", (smooth, np.roll(smooth, 1), 3.0)),
            Case("an odd length (63 samples)", (sine(0.0)[:63], sine(0.4)[:63], 2.0))]


register(Exercise("phase.magnify_1d", _magnify_1d_cases, magnify_1d, rtol=1e-6, atol=1e-8,
                  advice={"a sinusoid moved 0.3 px, alpha = 5": "compare your output with the sinusoid moved by "
                                                               "(1 + alpha) x 0.3 px: which way, and how far, did "
                                                               "yours move?",
                          "a sinusoid on a bright background (mean 2)": "the constant 2 is not part of the moving "
                                                                       "pattern: what does your output do with it?",
                          "alpha = 0 (the frame comes back)": "with alpha = 0 nothing is magnified: which signal "
                                                              "must come back?",
                          "an odd length (63 samples)": "an odd length has no Nyquist frequency: which FFT bins "
                                                        "does your analytic signal double?"}))


def shift_band(band, dphi, alpha):
    """Multiply each coefficient's phase change by (1 + alpha): band * exp(i alpha dphi)."""
    return np.asarray(band) * np.exp(1j * alpha * np.asarray(dphi, float))


def _shift_cases():
    rng = np.random.default_rng(13)
    band = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    return [Case("one coefficient, alpha = 10", (np.array([1.0 + 0j]), np.array([0.05]), 10.0)),
            Case("a 3x4 band, alpha = 20", (band, rng.uniform(-0.1, 0.1, (3, 4)), 20.0)),
            Case("alpha = -1 (motion removed)", (band, rng.uniform(-0.1, 0.1, (3, 4)), -1.0))]


register(Exercise("phase.shift_band", _shift_cases, shift_band,
                  advice={"one coefficient, alpha = 10": "the coefficient already holds its phase "
                                                         "change once: by how much more must it turn for a "
                                                         "motion of (1 + alpha) times?"}))
