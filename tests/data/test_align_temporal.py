"""Face alignment, head-motion compensation and temporal normalisation (issue 11, item 3)."""

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import cbook
from skimage import color, data as skdata

from mer_lib.data import synthetic_dataset
from mer_lib.data.prepare import (ALIGNED_EYES, compensate_head_motion, eye_alignment, find_eyes, prepare_clip,
                                  resample_clip, rigid_mask, warp_similarity)

# The pupils, hand-marked in the full photographs (pixels).
PUPILS = {"astronaut": ((203, 100), (246, 103)), "grace_hopper": ((221, 190), (305, 186))}


def _photo(name):
    if name == "astronaut":
        rgb = skdata.astronaut()
    else:
        with cbook.get_sample_data("grace_hopper.jpg") as f:
            rgb = plt.imread(f, format="jpg")
    return (color.rgb2gray(rgb) * 255).astype(np.uint8)


def test_eye_alignment_is_the_similarity_that_puts_the_eyes_on_their_targets():
    eyes = np.array([[30.0, 50.0], [70.0, 40.0]])
    m = eye_alignment(eyes, size=64)
    landed = (m @ np.c_[eyes, np.ones(2)].T).T
    np.testing.assert_allclose(landed, np.array(ALIGNED_EYES) * 64, atol=1e-9)
    a = m[:, :2]
    np.testing.assert_allclose(a @ a.T, np.eye(2) * np.linalg.det(a), atol=1e-12)  # rotation x uniform scale
    with pytest.raises(ValueError, match="eyes"):
        eye_alignment([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="eyes"):
        eye_alignment([1.0, 2.0, 3.0])


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
@pytest.mark.parametrize("angle", [-12, -6, 0, 6, 12])
@pytest.mark.parametrize("scale", [0.8, 1.0, 1.3])
def test_alignment_puts_the_eyes_where_it_says_within_a_pixel_on_rotated_and_scaled_faces(name, angle, scale):
    image = _photo(name)
    h, w = image.shape
    r = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    moved = cv2.warpAffine(image, r, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)
    eyes = find_eyes(moved)
    assert eyes is not None
    m = eye_alignment(eyes, size=64)
    pupils = (r @ np.c_[np.array(PUPILS[name], float), np.ones(2)].T).T   # where the pupils now are
    landed = (m @ np.c_[pupils, np.ones(2)].T).T                         # where alignment puts them
    assert np.hypot(*(landed - np.array(ALIGNED_EYES) * 64).T).max() < 1.0


def test_prepare_clip_aligns_once_from_the_onset_frame(tmp_path):
    image = _photo("grace_hopper")
    r = cv2.getRotationMatrix2D((256, 300), 10, 0.9)
    paths = []
    for k in range(4):
        path = tmp_path / f"img{k}.png"
        cv2.imwrite(str(path), cv2.warpAffine(image, r, image.shape[::-1]))
        paths.append(path)
    frames, info = prepare_clip(paths, n_frames=4, size=64, align=True)
    assert info["aligned"] and frames.shape == (4, 64, 64)
    np.testing.assert_allclose(frames[1:], frames[:1].repeat(3, 0), atol=1e-6)  # one transform for all frames
    # the eyes are level: the two eye regions hold their dark pupils on one row
    left, right = (np.array(ALIGNED_EYES) * 64).round().astype(int)
    for x, y in (left, right):
        patch = frames[0, y - 3:y + 4, x - 3:x + 4]
        iy, ix = np.unravel_index(np.argmin(patch), patch.shape)
        assert abs(iy - 3) <= 1.5 and abs(ix - 3) <= 2


def test_prepare_clip_warns_and_crops_when_no_eyes_are_found(tmp_path):
    path = tmp_path / "img1.png"
    cv2.imwrite(str(path), np.full((80, 80), 128, np.uint8))
    with pytest.warns(UserWarning, match="img1.png"):
        frames, info = prepare_clip([path], n_frames=2, size=16, align=True)
    assert not info["aligned"] and frames.shape == (2, 16, 16)


def test_head_motion_compensation_recovers_a_known_rigid_motion():
    clean = synthetic_dataset(seed=0, counts=(1, 0, 0), n_subjects=1, size=128, blinks=False, head_motion=False,
                              noise=0, flicker=False)
    face = clean.frames[0, 0]
    frames = [face]
    truth = [(0.0, 0.0, 0.0)]
    for angle, dx, dy in ((0.8, 1.5, -0.7), (-1.2, -2.0, 1.1), (0.3, 0.6, 2.4)):
        m = cv2.getRotationMatrix2D((63.5, 63.5), angle, 1.0)
        m[:, 2] += (dx, dy)
        frames.append(cv2.warpAffine(face, m, (128, 128), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE))
        truth.append((angle, dx, dy))
    out, motions = compensate_head_motion(np.array(frames))
    inner = (slice(16, -16), slice(16, -16))
    for t in range(1, 4):
        moved = np.abs(frames[t] - face)[inner].mean()
        left = np.abs(out[t] - face)[inner].mean()
        assert left < moved / 10, (t, moved, left)
    assert rigid_mask(64).sum() > 0 and rigid_mask(64).shape == (64, 64)


def _blob_clip(n=5, step=6.0, size=64):
    """A Gaussian blob moving right by ``step`` px per frame; and its true position at any time."""
    yy, xx = np.mgrid[0:size, 0:size]

    def render(x):
        return np.exp(-((xx - x) ** 2 + (yy - size // 2) ** 2) / (2 * 3.0 ** 2)).astype(np.float32)

    x0 = 14.0
    return np.stack([render(x0 + step * t) for t in range(n)]), (lambda t: x0 + step * t), render


def _position(frame):
    """Where a template blob matches the frame best (sub-pixel, by parabola), and the match's peak value."""
    profile = frame.max(axis=0)
    k = int(np.argmax(profile))
    a, b, c = profile[k - 1:k + 2]
    return k + 0.5 * (a - c) / (a - 2 * b + c), float(profile[k])


def test_temporal_normalisation_puts_a_moving_blob_at_its_intermediate_positions():
    """5 frames, blob moving 6 px per frame, resampled to 9: the new frames sit halfway between the old ones.
    Motion-compensated interpolation puts the blob within 0.25 px of where it is at that time, at over 90%
    of its height, within 0.2 of the true frame everywhere; blending shows two half-height blobs (a
    cross-dissolve), whose sum peaks at about 61% of the height, 0.39 away from the true frame."""
    clip, truth, render = _blob_clip()
    positions = np.linspace(0, 4, 9)
    for method, tolerance in (("motion", 0.25),):
        out = resample_clip(clip, 9, method)
        for k, p in enumerate(positions):
            x, peak = _position(out[k])
            assert abs(x - truth(p)) < tolerance and peak > 0.9, (method, p, x, peak)
            assert np.abs(out[k] - render(truth(p))).max() < 0.2
    blend = resample_clip(clip, 9, "blend")
    for k in range(1, 9, 2):  # halfway instants
        assert _position(blend[k])[1] < 0.65  # two half blobs, not one blob
        assert np.abs(blend[k] - render(truth(positions[k]))).max() > 0.35
    for method in ("blend", "tim", "motion"):  # every method passes through the original frames
        np.testing.assert_allclose(resample_clip(clip, 9, method)[::2], clip, atol=1e-4)


def test_tim_is_smooth_and_exact_on_a_slow_change():
    """The temporal interpolation model follows a brightness that changes as a path-graph eigenvector exactly."""
    n = 6
    t = np.arange(n)
    level = np.cos(np.pi * 2 * (t + 0.5) / n)
    clip = level[:, None, None] * np.ones((n, 4, 4), np.float32)
    new = resample_clip(clip, 11, "tim")
    p = np.linspace(0, n - 1, 11)
    np.testing.assert_allclose(new[:, 0, 0], np.cos(np.pi * 2 * (p + 0.5) / n), atol=1e-5)
    with pytest.raises(ValueError, match="method"):
        resample_clip(clip, 4, "spline")


def test_prepare_clip_offers_each_temporal_method(tmp_path):
    clip, _, _ = _blob_clip(n=4)
    paths = []
    for k, frame in enumerate(clip):
        path = tmp_path / f"img{k}.png"
        cv2.imwrite(str(path), (frame * 255).astype(np.uint8))
        paths.append(path)
    outs = {m: prepare_clip(paths, n_frames=7, size=64, face="none", temporal=m)[0] for m in ("blend", "tim", "motion")}
    assert _position(outs["motion"][1])[1] > 0.85 > 0.65 > _position(outs["blend"][1])[1]
    with pytest.raises(ValueError, match="temporal"):
        prepare_clip(paths, temporal="nearest")


def test_head_motion_compensation_on_synthme_cuts_the_change_of_the_rigid_parts_threefold():
    from mer_lib.data.prepare import rigid_mask

    data = synthetic_dataset(seed=5, counts=(0, 2, 0), n_subjects=2, size=128, blinks=False, noise=0,
                             flicker=False)
    rigid = rigid_mask(128).astype(bool)
    for clip in data.frames:
        steady, motions = compensate_head_motion(clip)
        before = np.mean([np.abs(clip[t] - clip[0])[rigid].mean() for t in range(1, len(clip))])
        after = np.mean([np.abs(steady[t] - steady[0])[rigid].mean() for t in range(1, len(clip))])
        assert after < before / 3 and motions.shape == (len(clip), 2, 3)


def test_prepare_clip_compensates_head_motion_when_asked(tmp_path):
    data = synthetic_dataset(seed=5, counts=(0, 1, 0), n_subjects=1, size=128, blinks=False, noise=0, flicker=False)
    paths = []
    for k, frame in enumerate(data.frames[0]):
        path = tmp_path / f"img{k}.png"
        cv2.imwrite(str(path), np.round(frame * 255).astype(np.uint8))
        paths.append(path)
    plain, _ = prepare_clip(paths, n_frames=8, size=128, face="none")
    steady, info = prepare_clip(paths, n_frames=8, size=128, face="none", compensate=True)
    rigid = rigid_mask(128).astype(bool)

    def change(clip):
        return np.mean([np.abs(clip[t] - clip[0])[rigid].mean() for t in range(1, len(clip))])

    assert info["motions"].shape == (8, 2, 3) and change(steady) < change(plain) / 2


def test_the_cache_keeps_each_preparation_apart(tmp_path):
    from mer_lib.data import ClipRecord
    from mer_lib.data.prepare import prepare_clips

    clip, _, _ = _blob_clip(n=4)
    paths = []
    for k, frame in enumerate(clip):
        path = tmp_path / f"img{k}.png"
        cv2.imwrite(str(path), (frame * 255).astype(np.uint8))
        paths.append(str(path))
    record = ClipRecord("casme2", "s1", "s1/blob", paths, 1, 2, 4, "negative", "negative")
    cache = tmp_path / "cache"
    blend = prepare_clips([record], n_frames=7, face="none", cache_dir=cache, progress=False)
    motion = prepare_clips([record], n_frames=7, face="none", cache_dir=cache, progress=False, temporal="motion")
    assert len(list(cache.rglob("*.npz"))) == 2 and not np.allclose(blend, motion)
