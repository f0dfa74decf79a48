import tracemalloc

import numpy as np
import pytest

from mer_lib.magnify import magnify_linear, magnify_phase, magnify_riesz
from mer_lib.magnify.common import collapse_laplacian, laplacian_pyramid

from .conftest import grating_clip, measured_shift, static_noisy_clip

ALPHA = 10
WAVELENGTH = 16.0


@pytest.mark.parametrize("target", [0.5, 1.0, 2.2, 4.0, 6.0, 7.75])
def test_phase_based_magnifies_a_translation_within_1_percent_below_the_wrap(target):
    assert target < WAVELENGTH / 2
    out = magnify_phase(grating_clip(target / (1 + ALPHA)), ALPHA)
    assert measured_shift(out, 1) == pytest.approx(target, rel=0.01)


@pytest.mark.parametrize("target", [0.5, 1.0, 2.2, 3.5])
def test_phase_based_magnification_of_twice_the_motion_is_twice_as_large_below_the_wrap(target):
    assert 2 * target < WAVELENGTH / 2           # frame 2 has moved twice as far as frame 1
    out = magnify_phase(grating_clip(target / (1 + ALPHA)), ALPHA)
    assert measured_shift(out, 2) == pytest.approx(2 * target, rel=0.01)


@pytest.mark.parametrize("bandwidth, n_orientations", [("half-octave", 8), ("quarter-octave", 4)])
def test_phase_based_magnification_with_other_pyramids(bandwidth, n_orientations):
    out = magnify_phase(grating_clip(3.0 / (1 + ALPHA)), ALPHA, bandwidth=bandwidth, n_orientations=n_orientations)
    assert measured_shift(out, 1) == pytest.approx(3.0, rel=0.01)


def test_linear_is_within_5_percent_up_to_a_sixteenth_of_the_wavelength_and_falls_short_beyond():
    small = WAVELENGTH / 16
    out = magnify_linear(grating_clip(small / (1 + ALPHA)), ALPHA)
    assert measured_shift(out, 1) == pytest.approx(small, rel=0.05)
    for target in (WAVELENGTH / 4, 7.75):
        out = magnify_linear(grating_clip(target / (1 + ALPHA)), ALPHA)
        assert measured_shift(out, 1) < 0.9 * target


def test_riesz_magnifies_a_translation():
    for target in (1.0, 2.2):
        out = magnify_riesz(grating_clip(target / (1 + ALPHA)), ALPHA)
        assert measured_shift(out, 1) == pytest.approx(target, rel=0.03)


def test_noise_linear_follows_theory_and_phase_is_below_0_3_of_it():
    sigma = 0.01
    clean, noisy = static_noisy_clip(sigma)
    linear = (magnify_linear(noisy, ALPHA) - magnify_linear(clean, ALPHA))[1:].std()
    theory = np.sqrt((1 + ALPHA) ** 2 + ALPHA ** 2) * sigma
    assert linear == pytest.approx(theory, rel=0.10)
    phase = (magnify_phase(noisy, ALPHA) - magnify_phase(clean, ALPHA))[1:].std()
    assert phase <= 0.3 * linear
    riesz = (magnify_riesz(noisy, ALPHA) - magnify_riesz(clean, ALPHA))[1:].std()
    assert riesz < linear


@pytest.mark.parametrize("magnify", [magnify_phase, magnify_linear, magnify_riesz])
def test_negative_alpha_attenuates_motion(magnify):
    delta = 0.4
    out = magnify(grating_clip(delta), -0.5)
    assert measured_shift(out, 1) == pytest.approx(0.5 * delta, rel=0.05)


@pytest.mark.parametrize("magnify", [magnify_phase, magnify_linear, magnify_riesz])
@pytest.mark.parametrize("reference", [0, 1])
def test_the_reference_frame_stays_in_place_and_the_others_move_from_it(magnify, reference):
    clip = grating_clip(0.1)                     # frames at 0, 0.1 and 0.2 px
    out = magnify(clip, 4, reference=reference)
    # the magnified reference frame against the input's: not moved
    assert abs(measured_shift(np.stack([clip[reference], out[reference]]), 1)) < 0.01
    # the last frame, 0.2 - 0.1 * reference px from the reference, moves (1 + alpha) times as far from it
    # (at most 1 px: a sixteenth of the wavelength, where linear magnification is still accurate)
    expected = 5 * (0.2 - 0.1 * reference)
    assert measured_shift(np.stack([clip[reference], out[2]]), 1) == pytest.approx(expected, rel=0.05)


@pytest.mark.parametrize("magnify", [magnify_phase, magnify_linear, magnify_riesz])
def test_alpha_zero_changes_no_motion(magnify):
    still = magnify(grating_clip(0.3), 0)
    assert measured_shift(still, 1) == pytest.approx(0.3, rel=0.01)
    assert measured_shift(still, 2) == pytest.approx(0.6, rel=0.01)


@pytest.mark.parametrize("magnify", [magnify_phase, magnify_linear, magnify_riesz])
def test_colour_clips_are_magnified_in_luma_only(magnify):
    grey = grating_clip(0.2, size=64)
    rgb = np.stack([grey, 0.8 * grey, 0.5 * grey], axis=-1)
    out = magnify(rgb, 5)
    assert out.shape == rgb.shape
    from mer_lib.magnify.common import rgb_to_yiq
    np.testing.assert_allclose(rgb_to_yiq(out)[..., 1:], rgb_to_yiq(rgb)[..., 1:], atol=1e-9)


@pytest.mark.parametrize("magnify", [magnify_phase, magnify_linear, magnify_riesz])
def test_bad_input_gets_clear_errors(magnify):
    clip = grating_clip(0.2, size=32)
    with pytest.raises(ValueError, match="NaN"):
        magnify(np.where(clip > 0.7, np.nan, clip), 10)
    with pytest.raises(ValueError, match="at least 2 frames"):
        magnify(clip[:1], 10)
    with pytest.raises(ValueError, match="same size"):
        magnify([clip[0], clip[1][:, :-1]], 10)
    with pytest.raises(ValueError, match="out of range"):
        magnify(clip, 10, reference=5)
    with pytest.raises(ValueError, match="alpha"):
        magnify(clip, float("nan"))


def test_temporal_filters_run_and_are_checked():
    clip = grating_clip(0.2, size=32, n_frames=12)
    for magnify in (magnify_linear, magnify_phase):
        assert magnify(clip, 5, temporal="iir").shape == clip.shape
        assert magnify(clip, 5, temporal="ideal", fps=30, band=(1, 10)).shape == clip.shape
        with pytest.raises(ValueError, match="fps"):
            magnify(clip, 5, temporal="ideal")
        with pytest.raises(ValueError, match="temporal"):
            magnify(clip, 5, temporal="butterworth")


def test_attenuation_by_wavelength_spares_coarse_levels():
    from mer_lib.magnify import level_alphas

    alphas = level_alphas((128, 128), 6, 20, lambda_c=16)
    assert alphas[0] == 0 and alphas[-1] == 0          # finest band and residual dropped
    assert alphas[1] < alphas[3] <= 20                 # fine levels attenuated more
    assert level_alphas((128, 128), 6, 20, lambda_c=None) == [20] * 6


def test_laplacian_pyramid_reconstructs():
    image = np.random.default_rng(0).random((45, 62))
    assert np.abs(collapse_laplacian(laplacian_pyramid(image, 4)) - image).max() < 1e-12


def _peak_bytes(n_frames, size=64):
    clip = np.random.default_rng(0).random((n_frames, size, size))
    tracemalloc.start()
    magnify_phase(clip, 10)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_phase_memory_grows_with_one_frames_pyramid_not_with_the_clip():
    short, long = _peak_bytes(4), _peak_bytes(20)
    per_frame_io = 64 * 64 * 8 * 2            # the float64 input copy and the output
    pyramid = 64 * 64 * 8 * 7                 # one frame's pyramid: about 6 complex64 per pixel
    assert long - short < 16 * per_frame_io + pyramid   # storing 16 more pyramids would add 16x that


# --------------------------------------------------------------------------- issue 22: pyramid heights (review D5)
@pytest.mark.parametrize("magnify, n_levels", [(magnify_riesz, 1), (magnify_riesz, 0), (magnify_linear, 0),
                                               (magnify_linear, 1), (magnify_riesz, 2.5), (magnify_linear, 9),
                                               (magnify_riesz, 9)])
def test_a_pyramid_height_out_of_range_is_refused_not_run_unmagnified(magnify, n_levels):
    # magnify_riesz(n_levels=1) returned the clip unmagnified; magnify_linear(n_levels=0) raised IndexError
    from mer_lib.errors import UserInputError

    clip = grating_clip(0.2, size=32)          # 32 x 32: at most 4 levels (the coarsest keeps 4 pixels)
    with pytest.raises(UserInputError, match=r"n_levels must be an integer from 2 to 4 for frames of 32 x 32"):
        magnify(clip, ALPHA, n_levels=n_levels)


def test_riesz_with_the_fewest_levels_still_magnifies():
    clip = grating_clip(0.1, size=32)
    # one band of 32 x 32 holds part of the grating's energy: magnified, though not by the full 1 + alpha
    assert measured_shift(magnify_riesz(clip, ALPHA, n_levels=2), 1) > 2 * measured_shift(clip, 1)


def test_linear_refuses_settings_under_which_no_level_is_magnified():
    from mer_lib.errors import UserInputError

    clip = grating_clip(0.2, size=32)
    with pytest.raises(UserInputError, match="no level would be magnified"):
        magnify_linear(clip, ALPHA, lambda_c=16, n_levels=2)      # the finest band and the residual get 0
    assert magnify_linear(clip, ALPHA, lambda_c=None, n_levels=2).shape == clip.shape


def test_the_generic_pyramids_check_their_height():
    from mer_lib.errors import UserInputError
    from mer_lib.magnify import gaussian_pyramid

    image = np.random.default_rng(0).random((32, 40))
    assert len(laplacian_pyramid(image, 4)) == 4
    for bad in (0, 5, 1.5):
        with pytest.raises(UserInputError, match="n_levels must be an integer from 1 to 4"):
            gaussian_pyramid(image, bad)


@pytest.mark.parametrize("magnify", [magnify_linear, magnify_phase])
def test_the_ideal_temporal_filter_magnifies_the_motion_inside_its_band_only(magnify):
    # the wiring of temporal="ideal" was checked for shape only (review, section 5): a grating oscillating
    # at 3 Hz is magnified by a band around 3 Hz and left as it is by a band away from it
    fps, freq, amplitude, size = 30.0, 3.0, 0.1, 64
    t = np.arange(30)
    shifts = amplitude * np.sin(2 * np.pi * freq * t / fps)
    x = np.arange(size)
    clip = np.stack([np.tile(0.5 + 0.25 * np.cos(2 * np.pi * (x - s) / WAVELENGTH), (size, 1)) for s in shifts])
    peak = 3                                              # a frame near the oscillation's peak
    inside = magnify(clip, ALPHA, temporal="ideal", fps=fps, band=(2.0, 4.0))
    outside = magnify(clip, ALPHA, temporal="ideal", fps=fps, band=(8.0, 12.0))
    assert measured_shift(inside, peak) == pytest.approx((1 + ALPHA) * shifts[peak], rel=0.1)
    assert measured_shift(outside, peak) == pytest.approx(shifts[peak], rel=0.1)
