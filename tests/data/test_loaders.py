import pytest

from mer_lib.data import (DatasetLayoutError, load_casme2, load_casme_ii, load_megc2019, load_samm, load_smic)
from tests.data import fake_trees


@pytest.fixture
def casme2(tmp_path):
    return fake_trees.casme2_tree(tmp_path / "CASME2")


def test_casme2_reads_the_headerless_workbook_and_finds_folders_by_prefix(casme2):
    with pytest.warns(UserWarning, match="angry"):
        clips, rep = load_casme2(casme2, report=True)
    by_name = {c.clip_id: c for c in clips}
    assert set(by_name) == {"s15/anger1_1", "s15/happy1_2", "s16/anger2_1"}
    clip = by_name["s15/anger1_1"]
    assert (clip.database, clip.subject, clip.onset, clip.apex, clip.offset) == ("casme2", "s15", 100, 105, 112)
    assert clip.emotion == "negative" and clip.label == "negative" and clip.action_units == "4+10"
    assert clip.frame_paths[0].endswith("rawpic/s15/15_0401girlcrashing/img100.jpg")
    assert clip.frame_paths[-1].endswith("img112.jpg") and clip.n_frames == 13
    assert by_name["s16/anger2_1"].frame_paths[0].endswith("s16/16_0402beatingpregnantwoman/img50.jpg")


def test_casme2_apex_zero_becomes_the_midpoint(casme2):
    with pytest.warns(UserWarning):
        clips, rep = load_casme2(casme2, report=True)
    happy = next(c for c in clips if c.clip_id == "s15/happy1_2")
    assert happy.apex == 205 and "midpoint" in happy.notes[0]
    assert any(name == "happy1_2" for name, _ in rep.repaired)


def test_casme2_reports_each_row_it_leaves_out_and_why(casme2):
    with pytest.warns(UserWarning):
        _, rep = load_casme2(casme2, report=True)
    reasons = dict(rep.left_out)
    assert reasons["anger1_2"].startswith("macro")
    assert reasons["happy2_2"] == "emotion 'others'"
    assert reasons["happy2_1"].startswith("too short")
    assert reasons["disgust1_1"].startswith("too short")  # offset 0 -> apex 304: 5 frames
    assert reasons["anger2_2"] == "unknown emotion label: 'angry'"
    assert reasons["anger2_3"] == "no apex and no offset"
    assert rep.kept == 3 and "kept 3 clips" in str(rep)


def test_casme2_offset_zero_can_become_a_fixed_length(casme2):
    with pytest.warns(UserWarning):
        clips = load_casme2(casme2, missing_offset=10)
    disgust = next(c for c in clips if c.clip_id == "s15/disgust1_1")
    assert (disgust.onset, disgust.offset, disgust.n_frames) == (300, 309, 10)
    assert "offset 0" in disgust.notes[0]


def test_casme2_expression_type_and_min_frames(casme2):
    with pytest.warns(UserWarning):
        macro = load_casme2(casme2, expression_type="macro")
        everything = load_casme2(casme2, expression_type="all", min_frames=1)
    assert [c.clip_id for c in macro] == ["s15/anger1_2"]
    assert macro[0].frame_paths[0].endswith("15_0401girlcrashing/img400.jpg")  # found when loaded
    assert {"s16/happy2_1"} <= {c.clip_id for c in everything}
    with pytest.raises(ValueError, match="expression_type"):
        load_casme2(casme2, expression_type="tiny")


def test_casme2_accepts_the_updated_workbook_name(tmp_path):
    root = fake_trees.casme2_tree(tmp_path / "c", workbook_name="CAS(ME)^2code_final(Updated).xlsx")
    with pytest.warns(UserWarning):
        assert len(load_casme2(root)) == 3


@pytest.mark.parametrize("loader, name", [(load_casme2, "CAS(ME)^2"), (load_casme_ii, "CASME II"),
                                          (load_samm, "SAMM"), (load_smic, "SMIC")])
def test_a_missing_root_names_the_database_the_layout_and_the_licence(loader, name, tmp_path):
    for root in (tmp_path / "nowhere", None):
        with pytest.raises(DatasetLayoutError) as err:
            loader(root)
        message = str(err.value)
        assert name in message and "Expected under it" in message and "licensed" in message


def test_a_root_without_the_workbook_says_which_file_is_missing(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"CAS\(ME\)\^2code_final.xlsx"):
        load_casme2(tmp_path)
    with pytest.raises(DatasetLayoutError, match="CASME2-coding"):
        load_casme_ii(tmp_path)
    with pytest.raises(DatasetLayoutError, match="SAMM_Micro_FACS_Codes"):
        load_samm(tmp_path)


def test_casme_ii_maps_to_the_megc_classes_and_repairs_the_apex(tmp_path):
    root = fake_trees.casme_ii_tree(tmp_path / "CASME2")
    with pytest.warns(UserWarning, match="joy"):
        clips, rep = load_casme_ii(root, report=True)
    by_name = {c.clip_id: c for c in clips}
    assert set(by_name) == {"sub01/EP02_01f", "sub01/EP03_02", "sub02/EP01_01"}
    assert by_name["sub01/EP02_01f"].label == "positive"
    assert by_name["sub01/EP02_01f"].frame_paths[0].endswith("CASME2_RAW_selected/sub01/EP02_01f/img46.jpg")
    assert by_name["sub01/EP03_02"].label == "negative" and by_name["sub01/EP03_02"].apex == 15  # '/'
    assert by_name["sub02/EP01_01"].label == "negative" and by_name["sub02/EP01_01"].apex == 10  # empty
    reasons = dict(rep.left_out)
    assert "not in the 3-class mapping" in reasons["EP04_01"] and "not in the 3-class mapping" in reasons["EP05_01"]
    assert reasons["EP06_01"] == "unknown emotion label: 'joy'"
    assert reasons["EP07_01"].startswith("frames folder not found")


def test_casme_ii_cropped_variant(tmp_path):
    root = fake_trees.casme_ii_tree(tmp_path / "CASME2")
    with pytest.warns(UserWarning):
        clips = load_casme_ii(root, variant="cropped")
    assert [c.clip_id for c in clips] == ["sub01/EP02_01f"]
    assert clips[0].frame_paths[0].endswith("Cropped/sub01/EP02_01f/reg_img46.jpg")


def test_samm_finds_its_header_row_and_sorts_frames_by_number(tmp_path):
    root = fake_trees.samm_tree(tmp_path / "SAMM")
    with pytest.warns(UserWarning, match="Bewildered"):
        clips, rep = load_samm(root, report=True)
    by_name = {c.clip_id: c for c in clips}
    assert set(by_name) == {"006/006_1_2", "007/007_3_1"}
    happy = by_name["006/006_1_2"]
    assert happy.label == "positive" and happy.emotion == "Happiness"
    assert [p.rsplit("/", 1)[1] for p in happy.frame_paths] == [f"006_{n}.jpg" for n in range(5, 13)]
    anger = by_name["007/007_3_1"]
    assert anger.label == "negative" and anger.apex == 5  # apex -1 -> midpoint of 2 and 9
    reasons = dict(rep.left_out)
    assert "not in the 3-class mapping" in reasons["007_3_2"]
    assert reasons["007_3_3"] == "unknown emotion label: 'Bewildered'"


def test_smic_takes_labels_from_folders_and_the_middle_frame_as_apex(tmp_path):
    root = fake_trees.smic_tree(tmp_path / "SMIC")
    clips = load_smic(root)
    by_name = {c.clip_id: c for c in clips}
    assert set(by_name) == {"s3/s3_po_07", "s3/s3_ne_01", "s20/s20_sur_02"}
    po = by_name["s3/s3_po_07"]
    assert (po.label, po.onset, po.apex, po.offset, po.n_frames) == ("positive", 101, 105, 109, 9)
    assert by_name["s20/s20_sur_02"].label == "surprise"
    short, rep = load_smic(root, min_frames=8, report=True)
    assert dict(rep.left_out)["s20_sur_02"].startswith("too short")


def test_megc2019_composite_keeps_subjects_distinct(tmp_path):
    roots = {"smic": fake_trees.smic_tree(tmp_path / "SMIC"),
             "casme_ii": fake_trees.casme_ii_tree(tmp_path / "CASME2"),
             "samm": fake_trees.samm_tree(tmp_path / "SAMM")}
    with pytest.warns(UserWarning):
        clips, reports = load_megc2019(roots, report=True)
    assert len(clips) == 3 + 3 + 2 and len(reports) == 3
    assert {c.subject.split("/")[0] for c in clips} == {"smic", "casme_ii", "samm"}
    assert {c.label for c in clips} == {"negative", "positive", "surprise"}
    with pytest.raises(ValueError, match="smic"):
        load_megc2019({"smic": roots["smic"]})
