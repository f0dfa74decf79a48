"""The loaders and the clip cache on hand-made, damaged database folders (issue 11, item 5)."""

import os
import warnings

import cv2
import numpy as np
import pytest

from mer_lib.data import ClipRecord, DatasetLayoutError, load_casme2, load_casme_ii, load_samm
from mer_lib.data import prepare as prepare_module
from mer_lib.data.prepare import prepare_clips, read_frame
from tests.data import fake_trees


def _frames(folder, n=4, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        path = folder / f"img{k + 1}.png"
        cv2.imwrite(str(path), cv2.GaussianBlur(rng.integers(0, 255, (48, 48), dtype=np.uint8), (5, 5), 0))
        paths.append(path)
    return paths


def _record(paths):
    return ClipRecord("casme2", "s1", "s1/clip", [str(p) for p in paths], 1, 2, len(paths), "negative", "negative")


# ------------------------------------------------------------------------------------------------ the cache
def test_a_frame_repaired_in_place_is_not_served_from_the_stale_cache(tmp_path):
    paths = _frames(tmp_path / "clip")
    cache = tmp_path / "cache"
    before = prepare_clips([_record(paths)], n_frames=4, size=16, face="none", cache_dir=cache, progress=False)
    stat = os.stat(paths[2])
    cv2.imwrite(str(paths[2]), np.full((48, 48), 255, np.uint8))     # repaired in place ...
    os.utime(paths[2], ns=(stat.st_atime_ns, stat.st_mtime_ns))      # ... even keeping its modification time
    after = prepare_clips([_record(paths)], n_frames=4, size=16, face="none", cache_dir=cache, progress=False)
    assert not np.array_equal(before[0, 2], after[0, 2])
    np.testing.assert_allclose(after[0, 2], 1.0)
    np.testing.assert_array_equal(after[0, [0, 1, 3]], before[0, [0, 1, 3]])


@pytest.mark.parametrize("damage", ["cut in half", "garbage", "no frames array"])
def test_a_corrupt_cache_file_is_recomputed_with_a_warning(tmp_path, damage):
    paths = _frames(tmp_path / "clip")
    cache = tmp_path / "cache"
    good = prepare_clips([_record(paths)], n_frames=3, size=16, face="none", cache_dir=cache, progress=False)
    path = next(cache.rglob("*.npz"))
    if damage == "cut in half":  # a zip archive cut short: np.load raised BadZipFile
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"garbage")
    else:
        np.savez(path, box=np.zeros(3))
    with pytest.warns(UserWarning, match=rf"{path.name}.*recomputing"):
        again = prepare_clips([_record(paths)], n_frames=3, size=16, face="none", cache_dir=cache, progress=False)
    np.testing.assert_array_equal(again, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rewritten: the next run reads it silently
        prepare_clips([_record(paths)], n_frames=3, size=16, face="none", cache_dir=cache, progress=False)


# ------------------------------------------------------------------------------------------------ frames
def test_a_truncated_jpeg_is_named_not_read_with_a_grey_band(tmp_path):
    bad = fake_trees.truncated_jpeg(tmp_path / "img7.jpg")
    assert cv2.imread(str(bad), cv2.IMREAD_GRAYSCALE) is not None  # OpenCV alone accepts it
    with pytest.raises(ValueError, match=r"truncated.*img7\.jpg"):
        read_frame(bad)
    whole = fake_trees.truncated_jpeg(tmp_path / "img8.jpg", keep=1.0)
    assert read_frame(whole).shape == (64, 64)
    padded = tmp_path / "img9.jpg"  # zeros after the end-of-image marker are allowed
    padded.write_bytes(whole.read_bytes() + b"\0" * 16)
    assert read_frame(padded).shape == (64, 64)


def test_prepare_clip_names_a_truncated_frame(tmp_path):
    paths = [fake_trees.truncated_jpeg(tmp_path / f"img{k}.jpg", keep=1.0) for k in range(3)]
    fake_trees.truncated_jpeg(paths[1], keep=0.5)
    with pytest.raises(ValueError, match="img1.jpg"):
        prepare_module.prepare_clip(paths, n_frames=3, size=16, face="none")


# ------------------------------------------------------------------------------------------------ CAS(ME)^2
def test_casme2_reports_merged_and_empty_subjects_text_frames_duplicates_and_blank_rows(tmp_path):
    root = fake_trees.messy_casme2_tree(tmp_path / "c")
    with pytest.warns(UserWarning, match="1 duplicate"):
        clips, rep = load_casme2(root, report=True)
    assert [c.clip_id for c in clips] == ["s15/anger1_1"]
    reasons = dict(rep.left_out)
    assert reasons["anger1_3"].startswith("subject cell empty") and "row 2" in reasons["anger1_3"]
    assert reasons["happy1_2"].startswith("subject cell empty") and "row 4" in reasons["happy1_2"]
    assert reasons["row 3"].startswith("blank row")
    assert reasons["happy1_3"].startswith("not a frame number: offset '21b'") and "row 5" in reasons["happy1_3"]
    assert reasons["anger2_1"].startswith("not a frame number: onset 'fifty'")
    assert "CAS(ME)^2code_final.xlsx" in reasons["anger2_1"]
    assert reasons["anger1_1"].startswith("duplicate row")
    assert not any("offset 0" in what for _, what in rep.repaired)  # '21b' is not a missing offset
    assert rep.kept == 1 and len(rep.left_out) == 6


def test_casme2_a_short_sheet_is_a_one_line_layout_error(tmp_path):
    root = fake_trees.short_casme2_tree(tmp_path / "c")
    with pytest.raises(DatasetLayoutError, match=r"CAS\(ME\)\^2code_final.xlsx.*5 columns; expected at least 8"):
        load_casme2(root)


# ------------------------------------------------------------------------------------------------ CASME II
def test_casme_ii_reads_sub01_cells_and_reports_blank_rows_text_frames_and_duplicates(tmp_path):
    root = fake_trees.messy_casme_ii_tree(tmp_path / "c")
    with pytest.warns(UserWarning, match="duplicate"):
        clips, rep = load_casme_ii(root, report=True)
    assert [c.clip_id for c in clips] == ["sub01/EP02_01f"]
    assert (clips[0].onset, clips[0].apex, clips[0].offset) == (46, 59, 86)  # the first of the duplicates
    reasons = rep.left_out
    by_kind = {}
    for name, why in reasons:
        by_kind.setdefault(why.split(":")[0], []).append((name, why))
    assert [n for n, _ in by_kind["blank row"]] == ["row 3"]
    texts = {n: why for n, why in by_kind["not a frame number"]}
    assert "OnsetFrame 'ten'" in texts["EP03_02"] and "CASME2-coding-20140508.xlsx row 4" in texts["EP03_02"]
    assert "ApexFrame 'apex?'" in texts["EP01_01"] and "row 5" in texts["EP01_01"]
    assert "(46, 60, 86" not in str(by_kind["duplicate row"]) and "apex 59" in by_kind["duplicate row"][0][1]
    assert "'subject 2'" in by_kind["subject not a number"][0][1]
    assert rep.kept == 1 and len(reasons) == 5


# ------------------------------------------------------------------------------------------------ SAMM
def test_samm_leaves_out_clips_with_missing_frames_and_says_which(tmp_path):
    root = fake_trees.messy_samm_tree(tmp_path / "s")
    clips, rep = load_samm(root, report=True)
    assert [c.clip_id for c in clips] == ["006/006_1_2"]
    why = dict(rep.left_out)["006_1_3"]
    assert why.startswith("missing frames: 2 of 8") and "(7, 8)" in why


@pytest.mark.parametrize("column", ["Onset Frame", "Estimated Emotion", "Filename"])
def test_samm_a_missing_column_is_a_one_line_layout_error(tmp_path, column):
    root = fake_trees.messy_samm_tree(tmp_path / "s", drop_column=column)
    with pytest.raises(DatasetLayoutError, match=rf"SAMM_Micro_FACS_Codes_v2.xlsx.*lacks the columns \['{column}'\]"):
        load_samm(root)
