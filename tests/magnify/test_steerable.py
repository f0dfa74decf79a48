import numpy as np
import pytest

from mer_lib.magnify import BANDWIDTHS, ComplexSteerablePyramid


@pytest.mark.parametrize("shape", [(64, 64), (65, 47), (33, 33), (128, 96), (9, 13)])
@pytest.mark.parametrize("bandwidth", sorted(BANDWIDTHS))
@pytest.mark.parametrize("n_orientations", [1, 2, 4, 6, 8])
def test_reconstruction_is_perfect_in_float64(shape, bandwidth, n_orientations):
    pyr = ComplexSteerablePyramid(shape, n_orientations, bandwidth)
    image = np.random.default_rng(sum(shape) + n_orientations).random(shape)
    assert np.abs(pyr.reconstruct(pyr.decompose(image)) - image).max() < 1e-10


def test_filters_form_a_tight_frame():
    """Residuals squared plus each one-sided band (2 G on a half-plane) with its mirror image, over 4, sum to 1."""
    h, w = 40, 56
    pyr = ComplexSteerablePyramid((h, w), 4, "half-octave")
    bands = sum(pyr.filter(k) ** 2 for k in pyr.bands)
    # on an fftshifted grid of even size, frequency index i mirrors to (n - i) % n
    mirror = bands[(-np.arange(h)) % h][:, (-np.arange(w)) % w]
    residuals = pyr.filter("highpass") ** 2 + pyr.filter("lowpass") ** 2
    np.testing.assert_allclose(residuals + (bands + mirror) / 4, 1.0, atol=1e-12)


def test_more_bands_per_octave_for_narrower_bandwidths():
    scales = [ComplexSteerablePyramid((64, 64), 2, bw).n_scales for bw in ("octave", "half-octave", "quarter-octave")]
    assert scales == [4, 8, 16]


def test_bands_are_complex_and_coarse_bands_are_smaller():
    pyr = ComplexSteerablePyramid((128, 128), 4)
    coeffs = pyr.decompose(np.random.default_rng(0).random((128, 128)))
    assert np.iscomplexobj(coeffs[(0, 0)])
    assert coeffs[(0, 0)].shape == (128, 128) and coeffs[(2, 0)].shape[0] < 40
    total = sum(coeffs[k].size for k in pyr.bands) / 128 ** 2
    assert total < 7  # about six complex coefficients per pixel


def test_a_translation_shifts_the_phase_and_keeps_the_amplitude():
    x = np.arange(64)
    a = np.tile(np.cos(2 * np.pi * x / 8.0), (64, 1))
    b = np.tile(np.cos(2 * np.pi * (x - 0.5) / 8.0), (64, 1))
    pyr = ComplexSteerablePyramid((64, 64), 4)
    ca, cb = pyr.decompose(a), pyr.decompose(b)
    key = max(pyr.bands, key=lambda k: np.abs(ca[k]).mean())   # the band that holds the grating
    dphi = np.angle(cb[key] * np.conj(ca[key]))[16:48, 16:48]
    np.testing.assert_allclose(np.abs(dphi), 2 * np.pi * 0.5 / 8.0, atol=1e-6)
    np.testing.assert_allclose(np.abs(cb[key]), np.abs(ca[key]), atol=1e-9)


def test_the_same_pyramid_serves_every_frame_of_its_shape_only():
    pyr = ComplexSteerablePyramid((32, 32))
    with pytest.raises(ValueError, match="built for images of shape"):
        pyr.decompose(np.zeros((32, 33)))


@pytest.mark.parametrize("kwargs, match", [(dict(shape=(4, 40)), "at least 8"),
                                           (dict(shape=(32, 32), bandwidth="third-octave"), "bandwidth"),
                                           (dict(shape=(32, 32), n_orientations=0), "n_orientations"),
                                           (dict(shape=(32, 32), n_octaves=9), "n_octaves"),
                                           (dict(shape=(32, 32), n_octaves=2.5), "n_octaves"),   # not truncated
                                           (dict(shape=(32, 32), n_octaves=0), "n_octaves")])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ComplexSteerablePyramid(**kwargs)


def test_the_coefficient_count_of_the_module_docstring():
    # about 5.3 complex coefficients per pixel in the bands (4 orientations, octave), plus two full-size residuals
    for shape in ((64, 64), (128, 128)):
        pyr = ComplexSteerablePyramid(shape, 4)
        coeffs = pyr.decompose(np.zeros(shape))
        per_pixel = sum(coeffs[key].size for key in pyr.bands) / (shape[0] * shape[1])
        assert 5.25 < per_pixel < 5.45
        assert coeffs["highpass"].shape == coeffs["lowpass"].shape == shape
