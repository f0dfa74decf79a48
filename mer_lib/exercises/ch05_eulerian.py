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
                  advice={"8-bit frames": "uint8 wraps around: what is 10 - 20 in uint8?",
                          "alpha = -1 (motion removed)": "with alpha = -1 the motion is removed: "
                                                         "which frame should come back?"}))


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
                  advice={"a random 3x16x20 clip, alpha = 10": "what is amplified: the band itself, "
                                                               "or its change since frame 0? Look at frame 0 of "
                                                               "your output: it must be the input's frame 0.",
                          "alpha = 0 (the clip comes back)": "with alpha = 0 your output must be the "
                                                             "input clip, as floats.",
                          "8-bit frames": "uint8 differences wrap around.",
                          "odd-sized frames (15x17)": "a 15x17 frame halves to 8x9: what shape does "
                                                  "your low-pass part come back in?"}))


def max_alpha(delta, wavelength):
    """The largest alpha for which the first-order bound (1 + alpha) delta < wavelength / 8 holds."""
    return wavelength / (8.0 * delta) - 1.0


register(Exercise("eulerian.max_alpha",
                  lambda: [Case("delta = 0.1 px, wavelength 16 px", (0.1, 16.0)),
                           Case("delta = 0.05 px, wavelength 8 px", (0.05, 8.0)),
                           Case("delta = 2 px, wavelength 16 px", (2.0, 16.0))],
                  max_alpha,
                  advice={"delta = 2 px, wavelength 16 px": "here the motion alone already reaches "
                                                            "lambda / 8: what alpha does the bound allow?"}))


def ideal_bandpass(clip, fps, band):
    """Keep the temporal frequencies of ``band`` = (f_lo, f_hi) Hz, edges included, of every pixel of a clip.

    clip (T, H, W) sampled at ``fps`` -> (T, H, W), real: FFT along time, zero the frequencies whose
    absolute value is outside the band (positive and negative alike), inverse FFT.
    """
    clip = np.asarray(clip, float)
    freqs = np.abs(np.fft.fftfreq(clip.shape[0], d=1.0 / fps))
    keep = (freqs >= band[0]) & (freqs <= band[1])
    return np.real(np.fft.ifft(np.fft.fft(clip, axis=0) * keep[:, None, None], axis=0))


def _bandpass_cases():
    rng = np.random.default_rng(51)
    t = np.arange(60) / 30.0                                  # 2 s at 30 fps
    slow, fast = np.sin(2 * np.pi * 1.0 * t), np.sin(2 * np.pi * 10.0 * t)
    pixels = rng.random((1, 2, 3))
    mixed = (slow + fast)[:, None, None] * pixels + 0.5
    odd = rng.random((31, 2, 2))
    return [Case("a still clip (0.5 everywhere)", (np.full((20, 3, 3), 0.5), 30.0, (0.5, 3.0))),
            Case("1 Hz + 10 Hz + a constant at 30 fps, band 0.5-3 Hz", (mixed, 30.0, (0.5, 3.0))),
            Case("the same clip, band 5-12 Hz", (mixed, 30.0, (5.0, 12.0))),
            Case("a band edge exactly on a frequency (1 Hz, band 1-2 Hz)", (mixed, 30.0, (1.0, 2.0))),
            Case("31 random frames (odd length) at 25 fps, band 2-6 Hz", (odd, 25.0, (2.0, 6.0))),
            Case("8-bit frames", ((mixed * 100).astype(np.uint8), 30.0, (0.5, 3.0)))]


register(Exercise("eulerian.ideal_bandpass", _bandpass_cases, ideal_bandpass, rtol=1e-6, atol=1e-9,
                  advice={"a still clip (0.5 everywhere)": "a still clip has only frequency 0: is 0 Hz in the "
                                                           "band?",
                          "1 Hz + 10 Hz + a constant at 30 fps, band 0.5-3 Hz": "the 1 Hz sine must come back "
                                                                               "whole: check your frequency axis "
                                                                               "in Hz and that the negative "
                                                                               "frequencies are kept too.",
                          "the same clip, band 5-12 Hz": "only the 10 Hz sine should remain; the filter runs "
                                                         "along time, axis 0, for every pixel.",
                          "a band edge exactly on a frequency (1 Hz, band 1-2 Hz)": "are the band's edges kept?",
                          "31 random frames (odd length) at 25 fps, band 2-6 Hz": "the frequency spacing is fps / T; "
                                                                                  "an odd T has no Nyquist bin.",
                          "8-bit frames": "uint8 arithmetic wraps around; what type does your FFT see?"}))
