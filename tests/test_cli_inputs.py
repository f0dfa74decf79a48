"""Issue 22, item 4, the inputs' half: a fault of the user's database copy that reaches ``mer`` ends as one
line, ``mer: error: ...`` naming the file, with exit status 2 (it was a traceback)."""

import warnings

import cv2
import numpy as np
import pytest

from mer_lib.cli import main
from tests.data import fake_trees


def _damage_workbook_empty(root):
    (root / "CASME2-coding-20140508.xlsx").write_bytes(b"")
    return "CASME2-coding-20140508.xlsx is empty (0 bytes)"


def _damage_workbook_csv(root):
    (root / "CASME2-coding-20140508.xlsx").write_text("Subject,Filename,OnsetFrame\n1,EP02_01f,46\n")
    return "CASME2-coding-20140508.xlsx cannot be read as .xlsx (a text or CSV file"


def _damage_truncated_frame(root):
    fake_trees.truncated_jpeg(root / "CASME2_RAW_selected" / "sub01" / "EP03_02" / "img10.jpg")
    return "frame truncated (a JPEG without its end-of-image marker FFD9): "


def _damage_frame_size(root):
    cv2.imwrite(str(root / "CASME2_RAW_selected" / "sub01" / "EP03_02" / "img15.jpg"), np.zeros((30, 24), np.uint8))
    return "frames of one clip differ in size: "


@pytest.mark.parametrize("damage", [_damage_workbook_empty, _damage_workbook_csv, _damage_truncated_frame,
                                    _damage_frame_size])
def test_a_damaged_copy_ends_the_command_with_one_line_and_exit_2(damage, tmp_path, capsys):
    root = fake_trees.casme_ii_tree(tmp_path / "CASME2")
    needle = damage(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # (no face in the noise frames: reported, not an error)
        status = main(["preprocess", "--dataset", "casme-ii", "--root", str(root), "--out", str(tmp_path / "o"),
                       "--jobs", "1"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    # the progress bar of the clips prepared before the fault may precede it on stderr (carriage returns)
    messages = [line for line in err.replace("\r", "\n").splitlines() if "preparing clips" not in line and line]
    assert len(messages) == 1 and messages[0].startswith("mer: error: ") and needle in messages[0], err
