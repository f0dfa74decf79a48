import os

import cv2
import numpy as np
import pytest
from skimage import color, data as skdata

from mer_lib.data import ClipRecord, detect_face, prepare_clip, prepare_clips, read_frame, resample_positions
from mer_lib.data import prepare as prepare_module


def _record(paths, name="s1/clip"):
    return ClipRecord("casme2", "s1", name, [str(p) for p in paths], 1, 2, len(paths), "negative", "negative")


@pytest.fixture
def face_clip(tmp_path):
    """Five frames of the astronaut, each brighter than the last, as JPEG files."""
    grey = (color.rgb2gray(skdata.astronaut()) * 200).astype(np.uint8)
    paths = []
    for k in range(5):
        path = tmp_path / f"img{k + 1}.jpg"
        cv2.imwrite(str(path), np.clip(grey.astype(int) + 10 * k, 0, 255).astype(np.uint8))
        paths.append(path)
    return paths


def test_the_face_is_detected_once_and_the_crop_is_fixed(face_clip):
    x, y, w, h = detect_face(read_frame(face_clip[0]))
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 180  # the astronaut's face
    frames, info = prepare_clip(face_clip, n_frames=5, size=64)
    assert info["face_found"] and frames.shape == (5, 64, 64) and frames.dtype == np.float32
    assert 0 <= frames.min() and frames.max() <= 1
    # same crop for every frame: frames differ by the brightness step only
    step = np.median(frames[1:] - frames[:-1], axis=(1, 2))
    np.testing.assert_allclose(step, 10 / 255, atol=2 / 255)


def test_temporal_resampling_interpolates_between_frames(tmp_path):
    paths = []
    for k in range(4):  # frame k has brightness 60 k
        path = tmp_path / f"img{k}.png"
        cv2.imwrite(str(path), np.full((40, 40), 60 * k, np.uint8))
        paths.append(path)
    frames, info = prepare_clip(paths, n_frames=7, size=16, face="detect")
    assert not info["face_found"]  # no face: centre crop
    np.testing.assert_allclose(frames.mean(axis=(1, 2)) * 255, np.linspace(0, 180, 7), atol=0.6)
    np.testing.assert_allclose(resample_positions(4, 7), np.linspace(0, 3, 7))


def test_a_missing_frame_is_named(tmp_path, face_clip):
    missing = tmp_path / "img99.jpg"
    with pytest.raises(FileNotFoundError, match="img99.jpg"):
        prepare_clip([face_clip[0], missing], n_frames=2)


def test_an_unreadable_frame_is_named(tmp_path):
    bad = tmp_path / "img1.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match="img1.jpg"):
        read_frame(bad)


def test_frames_of_different_sizes_are_refused(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    cv2.imwrite(str(a), np.zeros((20, 20), np.uint8))
    cv2.imwrite(str(b), np.zeros((30, 20), np.uint8))
    with pytest.raises(ValueError, match="differ in size"):
        prepare_clip([a, b], n_frames=2, size=8)


def test_prepare_clips_caches_and_reads_back_without_pickle(tmp_path, face_clip, monkeypatch):
    cache = tmp_path / "cache"
    records = [_record(face_clip)]
    first = prepare_clips(records, n_frames=4, size=32, cache_dir=cache, progress=False)
    files = list(cache.rglob("*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as f:
        np.testing.assert_array_equal(f["frames"], first[0])

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(prepare_module, "prepare_clip", fail)
    again = prepare_clips(records, n_frames=4, size=32, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(first, again)


def test_an_interrupted_write_leaves_no_broken_cache(tmp_path, face_clip, monkeypatch):
    cache = tmp_path / "cache"

    def interrupted(f, **arrays):
        f.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_clips([_record(face_clip)], n_frames=2, size=16, cache_dir=cache, progress=False)
    monkeypatch.undo()
    assert list(cache.rglob("*.npz")) == []  # neither the file nor its temporary
    # a broken file (from some other accident) is recomputed, not trusted
    out = prepare_clips([_record(face_clip)], n_frames=2, size=16, cache_dir=cache, progress=False)
    path = next(cache.rglob("*.npz"))
    path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="recomputing"):
        again = prepare_clips([_record(face_clip)], n_frames=2, size=16, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(again, out)
    assert not any(p.name.startswith(".tmp-") for p in cache.rglob("*"))
    assert os.path.getsize(path) > 100


def test_result_npz_files_get_the_users_usual_permissions(tmp_path):
    import stat

    old = os.umask(0o022)
    try:
        prepare_module.atomic_save_npz(tmp_path / "a.npz", x=np.zeros(3))
        os.umask(0o027)
        prepare_module.atomic_save_npz(tmp_path / "b.npz", x=np.zeros(3))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.npz").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.npz").stat().st_mode) == 0o640
