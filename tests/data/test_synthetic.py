import numpy as np
import pytest
from scipy import ndimage

from mer_lib.data import CLASS_NAMES, synthetic_dataset


@pytest.fixture(scope="module")
def default():
    return synthetic_dataset(seed=0)


def test_default_counts_follow_the_papers_table2(default):
    assert default.counts() == {"negative": 67, "positive": 69, "surprise": 28}
    assert len(default) == 164 and default.class_names == CLASS_NAMES
    assert set(np.unique(default.subjects)) == set(range(22))  # 22 subjects, each with clips


def test_shapes_dtype_and_range(default):
    n = len(default)
    assert default.frames.shape == (n, 8, 128, 128) and default.frames.dtype == np.float32
    assert default.flow.shape == (n, 7, 128, 128, 2) and default.flow.dtype == np.float32
    assert default.frames.min() >= 0 and default.frames.max() <= 1
    assert default.labels.shape == default.subjects.shape == default.apex.shape == (n,)
    assert np.all((default.apex >= 1) & (default.apex <= 6))


def test_same_seed_same_arrays_other_seed_other_clips():
    a = synthetic_dataset(seed=3, counts=(2, 2, 2), n_subjects=3, size=48)
    b = synthetic_dataset(seed=3, counts=(2, 2, 2), n_subjects=3, size=48)
    c = synthetic_dataset(seed=4, counts=(2, 2, 2), n_subjects=3, size=48)
    for field in ("frames", "flow", "labels", "subjects", "apex"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.frames, c.frames)


def test_motion_is_micro_at_64_pixels():
    data = synthetic_dataset(seed=1, counts=(10, 10, 10), size=64, blinks=False, head_motion=False)
    # displacement at the apex = the expression's flows from onset to apex, summed
    peak = np.zeros(len(data))
    share_under_half = []
    for i in range(len(data)):
        disp = data.expression_flow[i, :data.apex[i]].sum(axis=0)
        mag = np.hypot(disp[..., 0], disp[..., 1])
        peak[i] = mag.max()
        moving = mag > 0.01
        share_under_half.append(np.mean(mag[moving] < 0.5))
    assert np.all(peak < 1.5)            # nothing moves much more than a pixel
    assert np.median(peak) > 0.2         # but the expression does move
    assert np.mean(share_under_half) > 0.9  # most moving pixels move well under a pixel


def _photometric_errors(data, i):
    h, w = data.frames.shape[2:]
    yy, xx = np.mgrid[0:h, 0:w]
    inner = (slice(8, -8), slice(8, -8))
    no_warp = warped = 0.0
    for t in range(data.frames.shape[1] - 1):
        f0, f1, fl = data.frames[i, t], data.frames[i, t + 1].astype(float), data.flow[i, t]
        back = ndimage.map_coordinates(f1, [yy + fl[..., 1], xx + fl[..., 0]], order=3, mode="nearest")
        no_warp += np.abs(f1 - f0)[inner].mean()
        warped += np.abs(back - f0)[inner].mean()
    return no_warp, warped


@pytest.mark.parametrize("nuisances", [dict(blinks=False, head_motion=False),
                                       dict(blinks=True, blink_probability=1.0, head_motion=True)])
def test_ground_truth_flow_explains_the_frames(nuisances):
    """frame_{t+1}(x + flow(x)) = frame_t(x): warping back cuts the error at least tenfold."""
    data = synthetic_dataset(seed=2, counts=(2, 2, 2), noise=0, flicker=False, **nuisances)
    for i in range(len(data)):
        no_warp, warped = _photometric_errors(data, i)
        assert no_warp > 10 * warped, (i, no_warp, warped)


def test_flow_convention_signs_match_the_action_units():
    data = synthetic_dataset(seed=5, counts=(0, 0, 3), blinks=False, head_motion=False, noise=0, flicker=False)
    for i in range(len(data)):
        rise = data.expression_flow[i, :data.apex[i]].sum(axis=0)
        brows = rise[25:45, 40:90]  # brows move up (AU1+2): negative vertical flow
        assert brows[..., 1].mean() < -0.05
        assert abs(brows[..., 0].mean()) < abs(brows[..., 1].mean())


def test_nuisances_can_be_turned_off():
    clean = synthetic_dataset(seed=0, counts=(2, 2, 2), blinks=False, head_motion=False, noise=0, flicker=False)
    np.testing.assert_allclose(clean.flow, clean.expression_flow, atol=1e-4)  # the inversion converges to 1e-4 px
    noisy = synthetic_dataset(seed=0, counts=(2, 2, 2), blinks=False, head_motion=True, noise=0, flicker=False)
    assert np.abs(noisy.flow - noisy.expression_flow).max() > 0.05


@pytest.mark.parametrize("bad, match", [(dict(counts=(1, 2)), "counts"), (dict(counts=(0, 0, 0)), "counts"),
                                        (dict(n_frames=2), "n_frames"), (dict(size=16), "size"),
                                        (dict(amplitude=-1), "amplitude"), (dict(n_subjects=0), "n_subjects"),
                                        (dict(blink_probability=2), "blink_probability")])
def test_bad_arguments_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        synthetic_dataset(**bad)


def test_subset_keeps_every_field_aligned():
    data = synthetic_dataset(seed=0, counts=(2, 2, 2), size=48)
    sub = data.subset(data.labels == 2)
    assert len(sub) == 2 and np.all(sub.labels == 2)
    assert sub.frames.shape[0] == sub.flow.shape[0] == len(sub.action_units) == 2


# ---------------------------------------------------------------------------- identities (issue 11, item 1)
from mer_lib.data.synthetic import (_canonical_face, _correlation, face_gallery, find_face_features,  # noqa: E402
                                    warp_residual)


def _neutral_correlations(data):
    onset = data.frames[:, 0, 8:-8, 8:-8]
    within, between = [], []
    for i in range(len(data)):
        for j in range(i + 1, len(data)):
            c = _correlation(onset[i], onset[j])
            (within if data.subjects[i] == data.subjects[j] else between).append(c)
    return np.array(within), np.array(between)


def test_the_default_subjects_are_distinct_real_faces(default):
    assert len(face_gallery()) >= 20
    assert len(set(default.identity_names)) == 22 and default.identity_names[:2] == ("astronaut", "grace_hopper")
    within, between = _neutral_correlations(default.subset(np.flatnonzero(default.subjects < 22)[:60]))
    assert within.min() > 0.9                      # one subject's neutral faces: the same person
    assert between.mean() < within.mean() - 0.5    # two subjects: far less alike
    assert np.percentile(between, 95) < 0.75


def test_one_photograph_for_every_subject_is_still_available():
    data = synthetic_dataset(seed=0, counts=(6, 6, 6), n_subjects=6, size=64, blinks=False,
                             identities="astronaut")
    _, between = _neutral_correlations(data)
    assert between.mean() > 0.7 and set(data.identity_names) == {"astronaut (template)"}


# Hand-marked in the photographs (pixels of the full image): the pupils and the mouth's centre.
HAND_MARKED = {"astronaut": ((203, 100), (246, 103), (223, 143)),
               "grace_hopper": ((221, 190), (305, 186), (267, 280))}


def test_features_found_automatically_match_hand_marked_positions_on_the_photographs():
    faces = {f.name: f for f in face_gallery()}
    for name, (left, right, mouth) in HAND_MARKED.items():
        face = faces[name]
        d = np.hypot(right[0] - left[0], right[1] - left[1])
        assert np.hypot(*(face.eyes[0] - left)) < 0.1 * d, name
        assert np.hypot(*(face.eyes[1] - right)) < 0.1 * d, name
        assert np.hypot(*(face.mouth - mouth)) < 0.1 * d, name


def test_every_faces_landmarks_land_on_its_features():
    """Eyes: darker than the skin around them. Mouth: darker than the skin a quarter of an eye distance above
    and below. Checked on each face's neutral canonical frame, where its landmarks are."""
    yy, xx = np.mgrid[0:128, 0:128]
    for face in face_gallery():
        image = ndimage.gaussian_filter(_canonical_face(face, 128), 1.0)
        for eye in ("eye_l", "eye_r"):
            x, y = face.landmarks[eye]
            r = np.hypot(xx - x, yy - y)
            assert image[r < 3.5].mean() < image[(r > 7) & (r < 12)].mean() - 0.05, (face.name, eye)
        (xl, yl), (xr, yr) = face.landmarks["mouth_l"], face.landmarks["mouth_r"]
        mx, my = (xl + xr) / 2, (yl + yr) / 2

        def segment(dy):
            return ndimage.map_coordinates(image, [np.full(17, my + dy), mx + np.arange(-8, 9)], order=1).mean()

        assert segment(0) < (segment(-9) + segment(9)) / 2, face.name
        assert face.landmarks["brow_inner_l"][1] < face.landmarks["eye_l"][1] < face.landmarks["mouth_l"][1] \
            < face.landmarks["chin"][1]


def test_feature_finder_says_when_it_is_not_confident():
    from skimage import data as skdata

    nonface = skdata.lfw_subset()[150]  # the last 100 images of lfw_subset are not faces
    flat = np.full((25, 25), 0.5)
    assert not find_face_features(flat)[2]
    with pytest.raises(ValueError, match=r"identities\[0\]"):
        synthetic_dataset(counts=(1, 1, 1), n_subjects=1, size=64, identities=[flat])
    assert find_face_features(nonface)[0].shape == (2, 2)


@pytest.mark.parametrize("bad, match", [(dict(identities="people"), "identities"),
                                        (dict(n_subjects=500), "n_subjects=500 exceeds"),
                                        (dict(identities=[np.zeros((25, 25))], n_subjects=2), "one face per subject")])
def test_bad_identities_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        synthetic_dataset(counts=(1, 1, 1), size=64, **bad)


def test_subjects_differ_in_how_strongly_their_action_units_show():
    data = synthetic_dataset(seed=0, counts=(0, 40, 0), n_subjects=4, size=64, blinks=False, head_motion=False,
                             noise=0, flicker=False)
    peak = np.array([np.abs(data.expression_flow[i, :data.apex[i]].sum(axis=0)).max() for i in range(len(data))])
    means = [peak[data.subjects == s].mean() for s in range(4)]
    assert max(means) / min(means) > 1.2  # beyond the clip-to-clip spread of 0.8-1.2


def test_ground_truth_residual_is_tiny_next_to_the_motion():
    data = synthetic_dataset(seed=2, counts=(3, 3, 3), noise=0, flicker=False)
    for i in range(len(data)):
        residual, change = warp_residual(data.frames[i], data.flow[i])
        assert residual.mean() < 2e-4 and residual.mean() * 10 < change.mean()
    with pytest.raises(ValueError, match="flow"):
        warp_residual(data.frames[0], data.flow[0, :2])


def test_motion_figures_scale_with_the_amplitude_and_stay_micro_by_default():
    from mer_lib.data.synthetic import motion_figures

    one = synthetic_dataset(seed=4, counts=(3, 3, 3), size=64, blinks=False, head_motion=False)
    two = synthetic_dataset(seed=4, counts=(3, 3, 3), size=64, blinks=False, head_motion=False, amplitude=2.0)
    f1, f2 = motion_figures(one), motion_figures(two)
    np.testing.assert_allclose(f2["peak"], 2 * f1["peak"], rtol=0.05)  # (the field is sampled where points are)
    assert np.all(f2["share"] >= f1["share"]) and np.all((0 < f1["share"]) & (f1["share"] < 0.5))
    assert np.all(f1["frames"] == 8) and 0.2 < np.median(f1["peak"]) < 1.5
    at128 = motion_figures(synthetic_dataset(seed=4, counts=(3, 3, 3), size=128, blinks=False, head_motion=False))
    np.testing.assert_allclose(np.median(at128["peak"]), np.median(f1["peak"]), rtol=0.15)  # rescaled to 64


def test_the_sample_face_boxes_are_the_ones_the_haar_cascade_finds():
    from mer_lib.data.prepare import detect_face
    from mer_lib.data.synthetic import SAMPLE_FACE_BOXES, _grey, sample_photographs

    photos = sample_photographs()
    assert set(photos) == set(SAMPLE_FACE_BOXES)
    for name, rgb in photos.items():
        assert detect_face((_grey(rgb) * 255).astype(np.uint8)) == SAMPLE_FACE_BOXES[name], name
