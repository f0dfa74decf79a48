"""Numeric checks of the temporal filters and the Riesz transform against their closed forms."""
import numpy as np
import pytest

from mer_lib.magnify import frequency_response, riesz_transform
from mer_lib.magnify.temporal import IIRBandpass, ideal_bandpass

FPS = 30.0


def _sines(freqs, n=60, fps=FPS, shape=(3, 2)):
    t = np.arange(n)[:, None, None] / fps
    phase = np.random.default_rng(0).uniform(0, 2 * np.pi, shape)
    return {f: np.cos(2 * np.pi * f * t + phase) for f in freqs}


def test_ideal_bandpass_keeps_exactly_the_components_inside_the_band():
    parts = _sines([2.0, 7.5, 12.0])             # whole numbers of cycles in 60 frames at 30 fps
    signal = sum(parts.values()) + 0.3           # and a constant (0 Hz) offset
    np.testing.assert_allclose(ideal_bandpass(signal, FPS, (1.0, 8.0)), parts[2.0] + parts[7.5], atol=1e-12)
    np.testing.assert_allclose(ideal_bandpass(signal, FPS, (0.0, 1.0)), 0.3, atol=1e-12)
    moved = np.moveaxis(signal, 0, 1)            # the same along another axis
    np.testing.assert_allclose(ideal_bandpass(moved, FPS, (10.0, 15.0), axis=1), np.moveaxis(parts[12.0], 0, 1),
                               atol=1e-12)


def test_iir_bandpass_step_response_is_the_difference_of_two_geometric_decays():
    r1, r2 = 0.4, 0.05
    filt = IIRBandpass(np.zeros(4), r1, r2)
    out = np.array([filt(np.ones(4))[0] for _ in range(30)])
    k = np.arange(1, 31)
    np.testing.assert_allclose(out, (1 - r2) ** k - (1 - r1) ** k, rtol=1e-12)


@pytest.mark.parametrize("freq", [0.5, 2.0, 6.0, 14.0])
def test_iir_bandpass_steady_state_gain_is_its_frequency_response(freq):
    n = 3000                                     # long enough for the slow filter's transient (rate 0.05) to die
    t = np.arange(n) / FPS
    x = np.sin(2 * np.pi * freq * t)
    filt = IIRBandpass(np.zeros(1), 0.4, 0.05)
    y = np.array([filt(np.array([v]))[0] for v in x])
    tail = slice(n // 2, None)
    # amplitude of the output's component at freq (a whole number of periods in the tail would be exact;
    # a least-squares fit of a sine and a cosine is exact for any tail length)
    basis = np.stack([np.sin(2 * np.pi * freq * t[tail]), np.cos(2 * np.pi * freq * t[tail])], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y[tail], rcond=None)
    gain = np.hypot(*coef)
    assert gain == pytest.approx(frequency_response("iir", [freq], FPS)[0], rel=1e-6)


def test_riesz_transform_of_a_plane_wave_is_its_quadrature_along_the_wave_direction():
    h, w = 32, 48                                # periodic: whole numbers of cycles along both axes
    yy, xx = np.mgrid[0:h, 0:w]
    kx, ky = 2 * np.pi * 3 / w, 2 * np.pi * 2 / h
    band = np.cos(kx * xx + ky * yy)
    r1, r2 = riesz_transform(band)
    k = np.hypot(kx, ky)
    quadrature = np.sin(kx * xx + ky * yy)
    np.testing.assert_allclose(r1, kx / k * quadrature, atol=1e-6)
    np.testing.assert_allclose(r2, ky / k * quadrature, atol=1e-6)
    # the monogenic amplitude of a plane wave is constant: I^2 + R1^2 + R2^2 = 1
    np.testing.assert_allclose(band ** 2 + r1 ** 2 + r2 ** 2, 1.0, atol=1e-6)


@pytest.mark.parametrize("period, gain", [(4, 1.0), (8, np.sin(np.pi / 4))])
def test_the_three_tap_approximation_has_gain_sin_omega(period, gain):
    yy, xx = np.mgrid[0:32, 0:32]
    band = np.cos(2 * np.pi * xx / period)
    r1, r2 = riesz_transform(band, exact=False)
    inner = (slice(None), slice(2, -2))          # away from the reflected border
    np.testing.assert_allclose(r1[inner], gain * np.sin(2 * np.pi * xx / period)[inner], atol=1e-12)
    np.testing.assert_allclose(r2, 0, atol=1e-12)


def test_a_reversed_or_out_of_range_band_is_refused_not_filtered_to_zeros():
    # issue 22 (review, silent fallbacks): ideal_bandpass validated nothing; a reversed band kept nothing
    from mer_lib.errors import UserInputError

    signal = np.random.default_rng(0).random((30, 4))
    for band, fps in (((5, 1), FPS), ((1, 20), FPS), ((1, 5), 0)):
        with pytest.raises(UserInputError, match="band|fps"):
            ideal_bandpass(signal, fps, band)
    with pytest.raises(UserInputError, match="r2 < r1"):
        IIRBandpass(np.zeros(1), r1=0.05, r2=0.4)


def test_riesz_transform_keeps_the_precision_of_a_float64_band():
    # the filters were cached in complex64 for every band, so float64 bands were computed in single precision
    h, w = 32, 48
    yy, xx = np.mgrid[0:h, 0:w]
    kx, ky = 2 * np.pi * 3 / w, 2 * np.pi * 2 / h
    band = np.cos(kx * xx + ky * yy)
    r1, r2 = riesz_transform(band)
    k = np.hypot(kx, ky)
    np.testing.assert_allclose(r1, kx / k * np.sin(kx * xx + ky * yy), atol=1e-12)
    r1_32, _ = riesz_transform(band.astype(np.float32))
    assert r1_32.dtype == np.float32 and np.abs(r1_32 - r1).max() < 1e-5


def test_amplitude_weighted_blur_gives_the_same_in_float32_opencv_and_float64_scipy():
    # the two branches (OpenCV for float32, SciPy for float64) must agree: nothing pinned it
    from mer_lib.magnify.common import amplitude_weighted_blur

    rng = np.random.default_rng(0)
    values, amplitude = rng.standard_normal((2, 40, 56))
    amplitude = np.abs(amplitude)
    fast = amplitude_weighted_blur(values.astype(np.float32), amplitude.astype(np.float32), 2.0)
    exact = amplitude_weighted_blur(values, amplitude, 2.0)
    assert fast.dtype == np.float32 and exact.dtype == np.float64
    np.testing.assert_allclose(fast, exact, atol=1e-5)
