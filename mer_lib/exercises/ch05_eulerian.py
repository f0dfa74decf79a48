"""Exercises of chapter 5, Eulerian magnification (book/05_eulerian_magnification.md)."""

import numpy as np

from mer_lib.exercises import Case, Exercise, register


def iir_bandpass(clip, r1, r2):
    """Wu et al.'s streaming band-pass along time: the difference of two first-order low-pass filters.

    clip (T, H, W) -> (T, H, W): for every pixel, ``y_k = y_(k-1) + r (x_k - y_(k-1))`` with the rates
    ``r1`` and ``r2``, both filters starting at the first frame (so that frame 0, and a still clip, give 0),
    and the output ``y1_k - y2_k``.
    """
    clip = np.asarray(clip, float)
    low1, low2 = clip[0].copy(), clip[0].copy()
    out = np.empty_like(clip)
    for k, frame in enumerate(clip):
        low1 += r1 * (frame - low1)
        low2 += r2 * (frame - low2)
        out[k] = low1 - low2
    return out


def _iir_cases():
    rng = np.random.default_rng(52)
    step = np.zeros((12, 2, 3))
    step[4:] = 1.0                                            # a step at frame 4
    sine = np.sin(2 * np.pi * 2.0 * np.arange(40) / 30.0)[:, None, None] * rng.random((1, 3, 2)) + 0.5
    return [Case("a still clip (0.3 everywhere)", (np.full((6, 2, 2), 0.3), 0.4, 0.05)),
            Case("a step from 0 to 1 at frame 4", (step, 0.4, 0.05)),
            Case("a 2 Hz sine on a constant, 40 frames at 30 fps", (sine, 0.4, 0.05)),
            Case("random frames, r1 = 1 (the fast filter is the signal itself)", (rng.random((7, 3, 4)), 1.0, 0.2)),
            Case("8-bit frames", ((rng.random((5, 3, 3)) * 255).astype(np.uint8), 0.5, 0.1))]


register(Exercise("eulerian.iir_bandpass", _iir_cases, iir_bandpass, rtol=1e-7, atol=1e-10,
                  advice={"a still clip (0.3 everywhere)": "a still scene must give 0 at every frame: what value "
                                                           "do your two filters hold before the first frame?",
                          "a step from 0 to 1 at frame 4": "look at frame 4 of your output: both filters have "
                                                           "taken one step towards the new value, each at its own "
                                                           "rate; is frame 4 itself already in them?",
                          "a 2 Hz sine on a constant, 40 frames at 30 fps": "the filters run along time, one "
                                                                           "state per pixel: every pixel of a "
                                                                           "frame is updated at once.",
                          "random frames, r1 = 1 (the fast filter is the signal itself)":
                              "with r = 1 a filter follows its input exactly: which filter is r1?",
                          "8-bit frames": "uint8 differences wrap around; what type do your filters hold?"}))


def magnify_eulerian(frames, alpha, n_levels, lambda_c=None):
    """Eulerian magnification of a clip (T, H, W): a Laplacian pyramid per frame, each band's change since
    frame 0 multiplied by its level's alpha (``level_alphas``) and added back, the pyramid collapsed.

    The same as ``magnify_linear(frames, alpha, n_levels=n_levels, lambda_c=lambda_c)``.
    """
    from mer_lib.magnify.common import pyr_down, pyr_up
    from mer_lib.magnify.eulerian import level_alphas

    frames = np.asarray(frames, float)
    alphas = level_alphas(frames.shape[1:], n_levels, alpha, lambda_c)

    def bands_of(image):
        bands = []
        for _ in range(n_levels - 1):
            smaller = pyr_down(image)
            bands.append(image - pyr_up(smaller, image.shape))
            image = smaller
        return bands + [image]

    reference = bands_of(frames[0])
    out = np.empty_like(frames)
    for k, frame in enumerate(frames):
        bands = [b + a * (b - r) for b, r, a in zip(bands_of(frame), reference, alphas)]
        image = bands[-1]
        for band in reversed(bands[:-1]):
            image = band + pyr_up(image, band.shape)
        out[k] = image
    return out


def _eulerian_cases():
    from mer_lib.magnify.testdata import grating_clip

    rng = np.random.default_rng(53)
    clip = rng.random((3, 24, 20))
    return [Case("alpha = 0 (the clip comes back)", (clip, 0.0, 3)),
            Case("a random 3x24x20 clip, alpha = 10, 3 levels, no attenuation", (clip, 10.0, 3)),
            Case("a moving grating, alpha = 5, 4 levels, lambda_c = 16", (grating_clip(0.1, 8.0, size=32), 5.0, 4),
                 {"lambda_c": 16}),
            Case("odd-sized frames (4x23x17), 3 levels", (rng.random((4, 23, 17)), 4.0, 3)),
            Case("8-bit frames", ((clip * 255).astype(np.uint8), 3.0, 2)),
            Case("one level (no pyramid at all)", (clip, 2.0, 1))]


register(Exercise("eulerian.magnify_eulerian", _eulerian_cases, magnify_eulerian, rtol=1e-7, atol=1e-9,
                  advice={"alpha = 0 (the clip comes back)": "with alpha = 0 nothing is amplified: does your "
                                                             "pyramid give the frame back exactly when you collapse "
                                                             "it? Expand each level to the shape of the level above.",
                          "a random 3x24x20 clip, alpha = 10, 3 levels, no attenuation":
                              "frame 0 of your output must be the input's frame 0: is what you amplify each "
                              "band's change since frame 0? Without attenuation the low-pass residual is "
                              "amplified too.",
                          "a moving grating, alpha = 5, 4 levels, lambda_c = 16": "with lambda_c each level has its "
                                                                                 "own alpha: ask level_alphas "
                                                                                 "for them, finest level first.",
                          "odd-sized frames (4x23x17), 3 levels": "a 23x17 level halves to 12x9: expand it back to "
                                                                  "23x17, not to 24x18.",
                          "8-bit frames": "uint8 differences wrap around.",
                          "one level (no pyramid at all)": "one level is the low-pass residual alone: the frame "
                                                           "itself."}))


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
