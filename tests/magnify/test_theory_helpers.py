"""Steering, temporal frequency responses, broadband test patterns and the animation helper."""

from math import factorial

import numpy as np
import pytest

from mer_lib.magnify import animate_panels, animation_html, frequency_response, steering_weights
from mer_lib.magnify.temporal import IIRBandpass
from mer_lib.magnify.testdata import PROFILES, fitted_shift, profile_image, translating_clip


def _angular(phi, theta, k):
    norm = 2 ** (k - 1) * factorial(k - 1) / np.sqrt(k * factorial(2 * (k - 1)))
    return norm * np.cos(phi - theta) ** (k - 1)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 6, 8])
@pytest.mark.parametrize("theta", [0.0, 0.3, np.pi / 5, 2.0, -1.1])
def test_steering_synthesises_the_filter_at_any_angle_from_the_basis(k, theta):
    phi = np.linspace(-np.pi, np.pi, 361)
    basis = np.stack([_angular(phi, np.pi * j / k, k) for j in range(k)])
    steered = steering_weights(theta, k) @ basis
    np.testing.assert_allclose(steered, _angular(phi, theta, k), atol=1e-12)


def test_steering_to_a_basis_angle_picks_that_filter():
    np.testing.assert_allclose(steering_weights(np.pi / 4, 4), [0, 1, 0, 0], atol=1e-12)


def test_steering_with_too_few_filters_is_not_exact():
    """Three copies of cos^3 cannot span its rotations: the count K is what makes it steerable."""
    phi = np.linspace(-np.pi, np.pi, 361)
    basis = np.stack([_angular(phi, np.pi * j / 3, 4) for j in range(3)])
    target = _angular(phi, 0.3, 4)
    coef, *_ = np.linalg.lstsq(basis.T, target, rcond=None)
    assert np.abs(basis.T @ coef - target).max() > 1e-3


@pytest.mark.parametrize("theta, k, match", [(0.0, 0, "n_orientations"), (np.nan, 4, "theta"),
                                             (0.0, 2.5, "n_orientations")])
def test_steering_bad_arguments_are_named(theta, k, match):
    with pytest.raises(ValueError, match=match):
        steering_weights(theta, k)


def test_iir_response_matches_the_filter_run_on_a_sinusoid():
    fps, r1, r2 = 30.0, 0.4, 0.05
    n = np.arange(3000)
    for f in (0.5, 2.0, 6.0, 12.0):
        signal = np.sin(2 * np.pi * f * n / fps)
        filt = IIRBandpass(np.zeros(1), r1, r2)
        out = np.array([filt(np.array([s]))[0] for s in signal])
        measured = np.sqrt(2) * out[1500:].std()
        assert measured == pytest.approx(frequency_response("iir", [f], fps, r1=r1, r2=r2)[0], rel=0.01)


def test_iir_response_is_a_band_pass():
    gain = frequency_response("iir", np.linspace(0, 15, 301), 30.0)
    assert gain[0] == pytest.approx(0, abs=1e-12)
    assert 0.2 < gain.max() <= 1 and gain[-1] < gain.max()


def test_ideal_response_is_one_inside_the_band_only():
    gain = frequency_response("ideal", [0.5, 1.0, 2.0, 3.0, 4.0], 30.0, band=(1.0, 3.0))
    np.testing.assert_array_equal(gain, [0, 1, 1, 1, 0])


@pytest.mark.parametrize("kwargs, match", [(dict(temporal="reference"), "temporal"),
                                           (dict(fps=0), "fps"),
                                           (dict(freqs=[20.0]), "freqs"),
                                           (dict(temporal="ideal", band=None), "band")])
def test_frequency_response_bad_arguments_are_named(kwargs, match):
    args = dict(temporal="iir", freqs=[1.0], fps=30.0) | kwargs
    with pytest.raises(ValueError, match=match):
        frequency_response(args.pop("temporal"), args.pop("freqs"), args.pop("fps"), **args)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("shift", [-2.3, 0.0, 0.71, 5.5])
def test_fitted_shift_recovers_a_rendered_shift(profile, shift):
    found, residual = fitted_shift(profile_image(profile, shift) * 0.7 + 0.1, profile)
    assert found == pytest.approx(shift, abs=0.01)
    assert residual < 1e-3


def test_translating_clip_moves_by_delta_per_frame():
    clip = translating_clip("bar", 1.5, n_frames=3)
    assert clip.shape == (3, 64, 64)
    assert fitted_shift(clip[2], "bar")[0] == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize("kwargs, match", [(dict(profile="ramp"), "profile"), (dict(size=4), "size"),
                                           (dict(width=0), "width")])
def test_profile_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        profile_image(**(dict(profile="edge") | kwargs))


def test_animation_has_one_frame_per_clip_frame_and_renders_to_a_player():
    clips = [np.random.default_rng(0).random((3, 16, 16)), np.zeros((3, 16, 16, 3))]
    anim = animate_panels(clips, ["grey", "colour"], dpi=20)
    html = animation_html(anim)
    assert 'class="animation"' in html
    assert html.count("frames[") >= 3


@pytest.mark.parametrize("panels, titles, match", [([], [], "at least one"),
                                                   ([np.zeros((3, 8, 8))], ["a", "b"], "titles"),
                                                   ([np.zeros((3, 8, 8)), np.zeros((4, 8, 8))], ["a", "b"],
                                                    "same number of frames"),
                                                   ([np.zeros((8, 8))], ["a"], "shape")])
def test_animation_bad_arguments_are_named(panels, titles, match):
    with pytest.raises(ValueError, match=match):
        animate_panels(panels, titles)


def test_animation_html_refuses_an_unknown_format():
    anim = animate_panels([np.zeros((2, 8, 8))], ["a"], dpi=10)
    with pytest.raises(ValueError, match="frame_format"):
        animation_html(anim, "gif")
