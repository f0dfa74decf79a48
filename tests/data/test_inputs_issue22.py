"""Issue 22, item 3 and the data half of items 4 and 6: frames found by each database's naming pattern only,
short clips left out with a reason, the loader's report, one-line errors for bad inputs, and the
arguments of load_dataset honoured or refused."""

import json
import warnings

import cv2
import numpy as np
import pytest

from mer_lib.data import (DatasetLayoutError, LoadReport, load_casme2, load_casme_ii, load_dataset, load_samm,
                          load_smic, prepare_clips, read_frame, synthetic_dataset)
from mer_lib.errors import UserInputError
from tests.data import fake_trees


def _names(paths):
    return [p.rsplit("/", 1)[1] for p in paths]


# ------------------------------------------------------------------------------------------ frame names
def test_samm_reads_only_files_named_like_frames_and_reports_the_others(tmp_path):
    root = fake_trees.samm_tree(tmp_path / "SAMM")
    clip = root / "006" / "006_1_2"
    (clip / "notes_1004.txt").write_text("a note")          # digits before the extension: not a frame
    (clip / "desktop1.ini").write_text("[.ShellClassInfo]")
    (clip / "Thumbs.db").write_bytes(b"\0")
    with pytest.warns(UserWarning):
        clips, rep = load_samm(root, report=True)
    happy = next(c for c in clips if c.clip_id == "006/006_1_2")
    assert _names(happy.frame_paths) == [f"006_{n}.jpg" for n in range(5, 13)]   # 8 frames for onset 5 to 12
    ignored = {p.rsplit("/", 1)[1]: why for p, why in rep.ignored_files}
    assert set(ignored) == {"notes_1004.txt", "desktop1.ini", "Thumbs.db"}
    assert all(why.startswith("not a frame name: expected 006_<N>.jpg") for why in ignored.values())


def test_two_files_for_one_frame_number_are_reported_and_neither_is_read(tmp_path):
    # 006_01004.jpg and 006_1004.jpg gave 11 frames for 10
    root = tmp_path / "SAMM"
    fake_trees.samm_tree(root)
    clip = root / "006" / "006_1_2"
    fake_trees.write_frames(clip, ["006_08.jpg"])            # frame 8 again, zero-padded
    with pytest.warns(UserWarning):
        clips, rep = load_samm(root, report=True)
    assert "006/006_1_2" not in {c.clip_id for c in clips}
    why = dict(rep.left_out)["006_1_2"]
    assert why.startswith("duplicate frame numbers") and "006_08.jpg" in why and "006_8.jpg" in why
    doubled = sorted(p.rsplit("/", 1)[1] for p, why in rep.ignored_files if why.startswith("duplicate frame number"))
    assert doubled == ["006_08.jpg", "006_8.jpg"]


def test_a_duplicate_outside_the_clip_is_reported_but_the_clip_is_kept(tmp_path):
    root = tmp_path / "SAMM"
    fake_trees.samm_tree(root)
    fake_trees.write_frames(root / "006" / "006_1_2", ["006_014.jpg"])   # frame 14: after the offset (12)
    with pytest.warns(UserWarning):
        clips, rep = load_samm(root, report=True)
    assert len(next(c for c in clips if c.clip_id == "006/006_1_2").frame_paths) == 8
    assert any(p.endswith("006_014.jpg") for p, _ in rep.ignored_files)


def test_casme_ii_and_casme2_frames_are_img_n_jpg_only(tmp_path):
    root = fake_trees.casme_ii_tree(tmp_path / "CASME2")
    clip = root / "CASME2_RAW_selected" / "sub01" / "EP03_02"
    fake_trees.write_frames(clip, ["img015.jpg"])            # a second file for frame 15
    (clip / "img12.jpg.bak").write_bytes(b"old")
    with pytest.warns(UserWarning):
        clips, rep = load_casme_ii(root, report=True)
    assert "sub01/EP03_02" not in {c.clip_id for c in clips}
    assert dict(rep.left_out)["EP03_02"].startswith("duplicate frame numbers")
    assert any(p.endswith("img12.jpg.bak") and "img<N>.jpg" in why for p, why in rep.ignored_files)

    root2 = fake_trees.casme2_tree(tmp_path / "CASME2b")
    (root2 / "rawpic" / "s15" / "15_0401girlcrashing" / "img105.jpg").unlink()     # inside anger1_1 (100-112)
    with pytest.warns(UserWarning):
        clips, rep = load_casme2(root2, report=True)
    assert "s15/anger1_1" not in {c.clip_id for c in clips}    # was kept, and failed only when read
    assert dict(rep.left_out)["anger1_1"].startswith("missing frames: 1 of 13")


def test_casme2_refuses_to_guess_between_two_folders_of_one_prefix(tmp_path):
    root = fake_trees.casme2_tree(tmp_path / "CASME2")
    fake_trees.write_frames(root / "rawpic" / "s15" / "15_0401girlcrashing_copy", [f"img{n}.jpg" for n in
                                                                                   range(95, 120)])
    with pytest.warns(UserWarning):
        clips, rep = load_casme2(root, report=True)
    assert "s15/anger1_1" not in {c.clip_id for c in clips}
    assert dict(rep.left_out)["anger1_1"].startswith("ambiguous frames folder: 2 folders match")


def test_smic_frames_are_image_n_and_a_gap_leaves_the_clip_out(tmp_path):
    root = fake_trees.smic_tree(tmp_path / "SMIC")
    clip = root / "HS" / "s3" / "micro" / "positive" / "s3_po_07"
    (clip / "desktop1.ini").write_text("x")
    (clip / "image000105.jpg").unlink()
    clips, rep = load_smic(root, report=True)
    assert "s3/s3_po_07" not in {c.clip_id for c in clips}
    assert dict(rep.left_out)["s3_po_07"].startswith("missing frames: 1 of 9")
    assert [p.rsplit("/", 1)[1] for p, _ in rep.ignored_files] == ["desktop1.ini"]


# ------------------------------------------------------------------------------------------ short clips
def test_a_clip_shorter_than_the_network_frame_count_is_left_out_unless_resampling_is_asked(tmp_path):
    # CASME II through the CLI accepted 1-frame clips and turned them into 8 copies with zero flow
    clips = [(1, "EP01_01", 10, 14, 18, "happiness"), (1, "EP02_01", 5, 5, 5, "disgust"),
             (2, "EP03_01", 30, 31, 32, "surprise")]
    root = fake_trees.casme_ii_clips_tree(tmp_path / "CASME2", clips)
    data = load_dataset("casme-ii", root, size=32, progress=False)
    assert len(data) == 1 and data.clips.shape == (1, 8, 32, 32)
    reasons = dict(data.report.left_out)
    assert reasons["EP02_01"].startswith("too short: 1 frames < min_frames=8")
    assert "resample_short=True" in reasons["EP03_01"] and "the network takes 8 frames" in reasons["EP03_01"]
    resampled = load_dataset("casme-ii", root, size=32, resample_short=True, progress=False)
    assert len(resampled) == 2                             # the 3-frame clip, resampled; never the 1-frame one
    assert dict(resampled.report.left_out)["EP02_01"].startswith("too short: 1 frames < min_frames=2")


# ------------------------------------------------------------------------------------------ the report
def test_the_report_says_what_was_kept_left_out_repaired_and_read(tmp_path):
    root = fake_trees.casme2_tree(tmp_path / "CASME2")
    (root / "rawpic" / "s15" / "15_0401girlcrashing" / "notes_101.txt").write_text("x")
    with pytest.warns(UserWarning):
        data = load_dataset("casme2", root, size=32, progress=False)
    rep = data.report
    assert isinstance(rep, LoadReport) and rep.kept == len(data) == 3
    assert rep.workbook.endswith("CAS(ME)^2code_final.xlsx")
    text = str(rep)
    assert text.splitlines()[0] == "CAS(ME)^2: kept 3 clips, left out 6, repaired 2, ignored 1 file"
    assert "  workbook: " in text and "too short" in text and "not a frame name" in text
    details = rep.details()
    assert all(name in details for name, _ in rep.left_out) and "notes_101.txt" in details
    # the random-noise frames hold no face: each clip was cropped to its centre, and the report says so
    assert {clip for clip, _ in rep.notes} == {"s15/anger1_1", "s15/happy1_2", "s16/anger2_1"}
    plain = json.loads(json.dumps(rep.to_dict()))
    assert plain["kept"] == 3 and plain["workbook"] == rep.workbook and len(plain["left_out"]) == 6
    assert {"clip", "reason"} == set(plain["left_out"][0])


def test_the_composite_report_holds_one_part_per_database(tmp_path):
    fake_trees.smic_tree(tmp_path / "SMIC")
    fake_trees.casme_ii_tree(tmp_path / "CASME2")
    fake_trees.samm_tree(tmp_path / "SAMM")
    with pytest.warns(UserWarning):
        data = load_dataset("megc2019", tmp_path, size=32, resample_short=True, progress=False)
    rep = data.report
    assert [p.database for p in rep.parts] == ["SMIC-HS", "CASME II", "SAMM"]
    assert rep.kept == len(data) == sum(p.kept for p in rep.parts)
    lines = str(rep).splitlines()
    assert lines[0].startswith("MEGC 2019 composite: kept") and any(line.startswith("  SAMM: kept") for line in lines)
    assert [p["database"] for p in rep.to_dict()["parts"]] == ["SMIC-HS", "CASME II", "SAMM"]


def test_prepare_clips_says_which_clips_had_no_face_and_were_centre_cropped(tmp_path):
    root = fake_trees.casme_ii_tree(tmp_path / "CASME2")
    with pytest.warns(UserWarning):
        records = load_casme_ii(root)
    with pytest.warns(UserWarning, match=r"no face found on the onset frame of 3 of 3 clips.*sub01/EP02_01f"):
        clips, info = prepare_clips(records, n_frames=4, size=16, cache_dir=tmp_path / "cache", progress=False,
                                    return_info=True)
    assert [i["face_found"] for i in info] == [False] * 3 and clips.shape == (3, 4, 16, 16)
    with pytest.warns(UserWarning, match="no face found"):      # read back from the cache: still said
        again, info_again = prepare_clips(records, n_frames=4, size=16, cache_dir=tmp_path / "cache",
                                          progress=False, return_info=True)
    assert info_again == info and np.array_equal(again, clips)


# ------------------------------------------------------------------------------------------ errors
def test_unreadable_workbooks_are_one_line_layout_errors_that_name_the_file(tmp_path):
    root = fake_trees.casme_ii_tree(tmp_path / "CASME2")
    book = root / "CASME2-coding-20140508.xlsx"
    book.write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match=r"CASME2-coding-20140508.xlsx is empty \(0 bytes\)"):
        load_casme_ii(root)
    book.write_text("Subject,Filename,OnsetFrame\n1,EP02_01f,46\n")
    with pytest.raises(DatasetLayoutError, match=r"cannot be read as .xlsx \(a text or CSV file"):
        load_casme_ii(root)
    book.unlink()
    (root / "CASME2-coding-20140508.csv").write_text("Subject,Filename\n")
    with pytest.raises(DatasetLayoutError, match=r"found CASME2-coding-20140508.csv"):
        load_casme_ii(root)
    assert issubclass(DatasetLayoutError, UserInputError) and issubclass(DatasetLayoutError, FileNotFoundError)


def test_bad_frames_and_arguments_are_user_input_errors(tmp_path):
    bad = fake_trees.truncated_jpeg(tmp_path / "img7.jpg")
    with pytest.raises(UserInputError, match="truncated"):
        read_frame(bad)
    (tmp_path / "img8.jpg").write_bytes(b"")
    with pytest.raises(UserInputError, match="0 bytes"):
        read_frame(tmp_path / "img8.jpg")
    root = fake_trees.casme2_tree(tmp_path / "c")
    for call, match in ((lambda: load_casme2(root, expression_type="tiny"), "expression_type"),
                        (lambda: load_casme2(root, min_frames=0), "min_frames"),
                        (lambda: load_dataset("smic-e"), "unknown dataset"),
                        (lambda: load_dataset("casme2"), "root is required"),
                        (lambda: load_dataset("synth", n_frames=0, fast=True), "n_frames"),
                        (lambda: load_dataset("synth", size=16, fast=True), "size must be at least 32")):
        with pytest.raises(UserInputError, match=match):
            call()


# ------------------------------------------------------------------------------------------ load_dataset's arguments
def test_load_dataset_honours_n_frames_and_size_for_synthme():
    # load_dataset("synth", n_frames=16, size=32) silently returned 8 frames of 64 x 64
    data = load_dataset("synth", fast=True, n_frames=16, size=32, progress=False)
    assert data.clips.shape == (10, 16, 32, 32) and np.all((data.apex >= 1) & (data.apex < 16))


def test_fast_keeps_a_small_subset_of_a_licensed_database_and_says_so(tmp_path):
    root = fake_trees.casme_ii_clips_tree(tmp_path / "CASME2", fake_trees.many_casme_ii_clips(12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                    # no face in noise: centre crops, reported
        full = load_dataset("casme-ii", root, size=32, progress=False)
        fast = load_dataset("casme-ii", root, size=32, fast=True, progress=False)
    assert len(full) == 12 and len(fast) == 10 and set(fast.labels) == {0, 1, 2}
    skipped = [why for _, why in fast.report.left_out if why.startswith("not in the fast subset")]
    assert len(skipped) == 2 and fast.report.kept == 10


# ------------------------------------------------------------------------------------------ one container
def test_synthme_and_dataset_are_one_idea_for_preprocess():
    from mer_lib.pipeline import preprocess

    data = load_dataset("synth", fast=True, n_frames=4, size=32, progress=False)
    synth = synthetic_dataset(counts=(1, 1, 0), n_subjects=2, size=32, n_frames=4)
    assert synth.clips is synth.frames
    clips, labels, subjects, apex, names = data          # still unpacks as the five arrays
    assert clips is data.clips and names == data.class_names
    for source in (data, synth):                         # preprocess(load_dataset(...)) failed: "inhomogeneous shape"
        inputs = preprocess(source, magnify=None, flow="horn_schunck", size=16, n_jobs=1, progress=False)
        assert inputs.frames.shape == (len(source), 4, 16, 16, 1)
    with pytest.raises(UserInputError, match="not ClipRecords"):
        preprocess([_a_record()], magnify=None, n_jobs=1, progress=False)
    with pytest.raises(UserInputError, match="clips of different shapes"):
        preprocess([np.zeros((4, 16, 16)), np.zeros((4, 8, 8))], magnify=None, n_jobs=1, progress=False)


def _a_record():
    from mer_lib.data import ClipRecord

    return ClipRecord("casme2", "s1", "s1/a", ["img1.jpg"], 1, 1, 1, "negative", "negative")


def test_a_frame_of_another_size_is_a_one_line_error_naming_it(tmp_path):
    root = fake_trees.casme_ii_tree(tmp_path / "CASME2")
    frame = root / "CASME2_RAW_selected" / "sub01" / "EP03_02" / "img15.jpg"
    cv2.imwrite(str(frame), np.zeros((30, 24), np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UserInputError, match=r"differ in size: .*EP03_02/img15.jpg is 24 x 30 pixels"):
            load_dataset("casme-ii", root, size=32, resample_short=True, progress=False)
