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


def magnify_phase_by_hand(frames, alpha, sigma=2.0):
    """Phase-based magnification of a clip (T, H, W) on the library's complex steerable pyramid.

    Octave bandwidth, 4 orientations, float64; for every band of every frame the wrapped phase difference
    to frame 0, smoothed by ``amplitude_weighted_blur`` weighted by the frame's own amplitude, times alpha,
    turns the band; the image is rebuilt without the high-pass residual (which cannot be magnified).
    The same as ``magnify_phase(frames, alpha, sigma=sigma, dtype=np.float64)``.
    """
    from mer_lib.magnify.common import amplitude_weighted_blur
    from mer_lib.magnify.steerable import ComplexSteerablePyramid

    frames = np.asarray(frames, float)
    pyr = ComplexSteerablePyramid(frames.shape[1:], 4, "octave")
    reference = pyr.decompose(frames[0])
    out = np.empty_like(frames)
    for k, frame in enumerate(frames):
        coeffs = pyr.decompose(frame)
        for key in pyr.bands:
            dphi = np.angle(coeffs[key] * np.conj(reference[key]))
            dphi = amplitude_weighted_blur(dphi, np.abs(coeffs[key]), sigma)
            coeffs[key] = coeffs[key] * np.exp(1j * alpha * dphi)
        out[k] = pyr.reconstruct(coeffs, highpass=False)
    return out


def _phase_cases():
    from mer_lib.magnify.testdata import grating_clip, static_noisy_clip, translating_clip

    _, noisy = static_noisy_clip(0.02, n_frames=3, size=32, seed=5)
    return [Case("alpha = 0 (the clip comes back, less its high-pass residual)", (noisy[:2], 0.0)),
            Case("a grating moving 0.1 px per frame, alpha = 5.5, no smoothing (sigma = 0)",
                 (grating_clip(0.1, 8.0, size=32, n_frames=3), 5.5, 0.0)),
            Case("a moving bar, alpha = 10, sigma = 2", (translating_clip("bar", 0.25, 32, n_frames=3), 10.0)),
            Case("a still noisy texture, alpha = 20, sigma = 2", (noisy, 20.0)),
            Case("a 24x40 clip of a moving edge, alpha = 4, sigma = 1",
                 (translating_clip("edge", 0.3, 40, n_frames=2)[:, 8:32, :], 4.0, 1.0))]


register(Exercise("phase.magnify_phase_by_hand", _phase_cases, magnify_phase_by_hand, rtol=1e-6, atol=1e-8,
                  advice={"alpha = 0 (the clip comes back, less its high-pass residual)":
                          "with alpha = 0 nothing turns: do you rebuild each frame from all its bands and the "
                          "low-pass residual, and without the high-pass residual?",
                          "a grating moving 0.1 px per frame, alpha = 5.5, no smoothing (sigma = 0)":
                              "frame 0 must come back unchanged (less its high-pass residual): is the phase "
                              "difference measured against frame 0's band, and wrapped?",
                          "a moving bar, alpha = 10, sigma = 2": "two things to look at: is the phase difference "
                                                                "wrapped (the difference of two angles is not), "
                                                                "and which amplitude weights the smoothing: the "
                                                                "current frame's band, not frame 0's?",
                          "a still noisy texture, alpha = 20, sigma = 2": "every band is smoothed with the same "
                                                                         "sigma, in pixels of that band's array.",
                          "a 24x40 clip of a moving edge, alpha = 4, sigma = 1": "build the pyramid for the "
                                                                                "frames' own shape, (H, W)."}))
