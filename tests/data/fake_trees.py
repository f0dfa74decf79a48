"""Small fake database trees in the exact official layouts, built in a temporary folder.

No file of any real database is used: the frames are random noise (or the
astronaut photograph from scikit-image where a face is needed).
"""

from pathlib import Path

import cv2
import numpy as np
from openpyxl import Workbook


def write_frames(folder: Path, names, size=24, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        cv2.imwrite(str(folder / name), rng.integers(0, 255, (size, size), dtype=np.uint8))


def _sheet(wb, title, rows, first=False):
    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    for row in rows:
        ws.append(list(row))


# subject index 1 -> folder s15, 2 -> s16: the naming rule, not the naive s01
CASME2_ROWS = [
    (1, "anger1_1", 100, 105, 112, "4+10", "negative", "micro-expression", "angry"),
    (1, "happy1_2", 200, 0, 210, "12", "positive", "micro-expression", "happy"),
    (1, "disgust1_1", 300, 304, 0, "9", "negative", "micro-expression", "disgust"),
    (2, "anger2_1", 50, 55, 60, "1+2", "surprise", "micro-expression", "surprised", "an extra column"),
    (2, "happy2_1", 10, 12, 14, "12", "positive", "micro-expression", ""),
    (2, "happy2_2", 20, 30, 40, "", "others", "micro-expression", ""),
    (1, "anger1_2", 400, 420, 440, "4", "negative", "macro-expression", ""),
    (2, "anger2_2", 70, 75, 80, "4", "angry", "micro-expression", ""),
    (2, "anger2_3", 90, 0, 0, "4", "negative", "micro-expression", ""),
]


def casme2_tree(root: Path, workbook_name="CAS(ME)^2code_final.xlsx") -> Path:
    wb = Workbook()
    _sheet(wb, "CASFEcode_final", CASME2_ROWS, first=True)
    _sheet(wb, "naming rule1", [(15, "s15", 1), (16, "s16", 2)])
    _sheet(wb, "naming rule2", [(101, "disgust1"), (401, "anger1"), (402, "anger2"), (502, "happy1"),
                                (503, "happy2")])
    root.mkdir(parents=True, exist_ok=True)
    wb.save(root / workbook_name)
    raw = root / "rawpic"
    write_frames(raw / "s15" / "15_0401girlcrashing", [f"img{n}.jpg" for n in [*range(95, 120), *range(400, 441)]])
    write_frames(raw / "s15" / "15_0502funnyinnovations", [f"img{n}.jpg" for n in range(200, 211)])
    write_frames(raw / "s15" / "15_0101disgustingteeth", [f"img{n}.jpg" for n in range(300, 312)])
    write_frames(raw / "s16" / "16_0402beatingpregnantwoman", [f"img{n}.jpg" for n in range(50, 61)])
    write_frames(raw / "s16" / "16_0503hilariousdog", [f"img{n}.jpg" for n in range(10, 15)])
    for folder in ("rawvideo", "cropped", "selectedpic"):
        (root / folder).mkdir(exist_ok=True)
    return root


def casme_ii_tree(root: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
               "Estimated Emotion"])
    for row in [(1, "EP02_01f", None, 46, 59, 86, None, "12", "happiness"),
                (1, "EP03_02", None, 10, "/", 20, None, "4", "disgust"),
                (2, "EP01_01", None, 5, None, 15, None, "14", "repression"),
                (2, "EP04_01", None, 1, 2, 3, None, "", "fear"),
                (2, "EP05_01", None, 1, 2, 3, None, "", "others"),
                (2, "EP06_01", None, 1, 2, 3, None, "", "joy"),
                (3, "EP07_01", None, 1, 2, 3, None, "", "surprise")]:
        ws.append(list(row))
    root.mkdir(parents=True, exist_ok=True)
    wb.save(root / "CASME2-coding-20140508.xlsx")
    base = root / "CASME2_RAW_selected"
    write_frames(base / "sub01" / "EP02_01f", [f"img{n}.jpg" for n in range(46, 87)])
    write_frames(base / "sub01" / "EP03_02", [f"img{n}.jpg" for n in range(10, 21)])
    write_frames(base / "sub02" / "EP01_01", [f"img{n}.jpg" for n in range(5, 16)])
    write_frames(root / "Cropped" / "sub01" / "EP02_01f", [f"reg_img{n}.jpg" for n in range(46, 87)])
    return root  # sub03/EP07_01 has no frames folder on purpose


def samm_tree(root: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    for i in range(12):
        ws.append([f"SAMM micro-movement database, preamble line {i}"] if i % 3 else [None])
    ws.append(["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Type", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"])
    ws.append([6, "006_1_2", 1, 5, 8, 12, 8, "Micro - 1/2", "R12", "Happiness", 1, None])
    ws.append([7, "007_3_1", 3, 2, -1, 9, 8, "Micro - 1/2", "4", "Anger", 2, "apex missing"])
    ws.append([7, "007_3_2", 3, 2, 5, 9, 8, "Micro - 1/2", "4", "Other", 7, None])
    ws.append([7, "007_3_3", 3, 2, 5, 9, 8, "Micro - 1/2", "4", "Bewildered", 7, None])
    root.mkdir(parents=True, exist_ok=True)
    wb.save(root / "SAMM_Micro_FACS_Codes_v2.xlsx")
    write_frames(root / "006" / "006_1_2", [f"006_{n}.jpg" for n in range(1, 16)])
    write_frames(root / "007" / "007_3_1", [f"007_{n:05d}.jpg" for n in range(1, 12)])
    return root


def smic_tree(root: Path) -> Path:
    hs = root / "HS"
    write_frames(hs / "s3" / "micro" / "positive" / "s3_po_07", [f"image{n:06d}.jpg" for n in range(101, 110)])
    write_frames(hs / "s3" / "micro" / "negative" / "s3_ne_01", [f"image{n:06d}.jpg" for n in range(5, 20)])
    write_frames(hs / "s20" / "micro" / "surprise" / "s20_sur_02", [f"image{n:06d}.jpg" for n in range(8, 12)])
    (hs / "s20" / "non_micro").mkdir(parents=True)
    return root


# ---------------------------------------------------------------- hand-made, messy trees (issue 11, item 5)
def messy_casme2_tree(root: Path) -> Path:
    """CAS(ME)^2 with a merged subject cell, an empty one, a text offset, a duplicate row and a blank row."""
    root = casme2_tree(root)
    wb = Workbook()
    rows = [
        (1, "anger1_1", 100, 105, 112, "4+10", "negative", "micro-expression", "angry"),   # row 1
        (None, "anger1_3", 95, 100, 110, "4", "negative", "micro-expression", ""),         # row 2: merged with 1
        (),                                                                                 # row 3: blank
        (None, "happy1_2", 200, 205, 210, "12", "positive", "micro-expression", ""),        # row 4: empty subject
        (1, "happy1_3", 200, 204, "21b", "12", "positive", "micro-expression", ""),         # row 5: text offset
        (1, "anger1_1", 100, 105, 112, "4+10", "negative", "micro-expression", "angry"),   # row 6: duplicate
        (2, "anger2_1", "fifty", 55, 60, "1+2", "surprise", "micro-expression", ""),        # row 7: text onset
    ]
    _sheet(wb, "CASFEcode_final", rows, first=True)
    wb.active.merge_cells("A1:A2")
    _sheet(wb, "naming rule1", [(15, "s15", 1), (16, "s16", 2)])
    _sheet(wb, "naming rule2", [(401, "anger1"), (402, "anger2"), (502, "happy1")])
    wb.save(root / "CAS(ME)^2code_final.xlsx")
    return root


def short_casme2_tree(root: Path) -> Path:
    """CAS(ME)^2 whose main sheet has only 5 columns."""
    root = casme2_tree(root)
    wb = Workbook()
    _sheet(wb, "CASFEcode_final", [row[:5] for row in CASME2_ROWS], first=True)
    wb.save(root / "CAS(ME)^2code_final.xlsx")
    return root


def messy_casme_ii_tree(root: Path) -> Path:
    """CASME II with sub01-style subject cells, a blank row, non-numeric frames and a duplicate row."""
    root = casme_ii_tree(root)
    wb = Workbook()
    ws = wb.active
    ws.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
               "Estimated Emotion"])
    for row in [("sub01", "EP02_01f", None, 46, 59, 86, None, "12", "happiness"),   # row 2
                (None, None, None, None, None, None, None, None, None),            # row 3: blank
                ("01", "EP03_02", None, "ten", 15, 20, None, "4", "disgust"),      # row 4: text onset
                (2, "EP01_01", None, 5, "apex?", 15, None, "14", "repression"),    # row 5: text apex
                ("sub01", "EP02_01f", None, 46, 60, 86, None, "12", "happiness"),  # row 6: duplicate
                ("subject 2", "EP01_01", None, 5, 10, 15, None, "14", "repression")]:  # row 7: bad subject
        ws.append(list(row))
    wb.save(root / "CASME2-coding-20140508.xlsx")
    return root


def messy_samm_tree(root: Path, drop_column=None) -> Path:
    """SAMM with a clip whose frames 7 and 8 are missing (and, optionally, without one column)."""
    header = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
              "Type", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]
    rows = [[6, "006_1_2", 1, 5, 8, 12, 8, "Micro - 1/2", "R12", "Happiness", 1, None],
            [6, "006_1_3", 1, 3, 6, 10, 8, "Micro - 1/2", "R12", "Happiness", 1, None]]
    keep = [i for i, c in enumerate(header) if c != drop_column]
    wb = Workbook()
    ws = wb.active
    ws.append(["SAMM micro-movement database"])
    ws.append([header[i] for i in keep])
    for row in rows:
        ws.append([row[i] for i in keep])
    root.mkdir(parents=True, exist_ok=True)
    wb.save(root / "SAMM_Micro_FACS_Codes_v2.xlsx")
    write_frames(root / "006" / "006_1_2", [f"006_{n}.jpg" for n in range(1, 16)])
    write_frames(root / "006" / "006_1_3", [f"006_{n}.jpg" for n in range(1, 16) if n not in (7, 8)])
    return root


def truncated_jpeg(path: Path, keep=0.6) -> Path:
    """A real JPEG frame cut short after ``keep`` of its bytes (as by an interrupted copy)."""
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.integers(0, 255, (64, 64), dtype=np.uint8), (5, 5), 0)
    ok, encoded = cv2.imencode(".jpg", image)
    data = encoded.tobytes()
    path.write_bytes(data[:int(len(data) * keep)])
    return path


# ---------------------------------------------------------------- issue 22: frame names, short clips, workbooks
def casme_ii_clips_tree(root: Path, clips, size=24) -> Path:
    """CASME II holding exactly ``clips``: (subject, filename, onset, apex, offset, emotion), each clip's
    frames img<onset>.jpg .. img<offset>.jpg written (size x size noise)."""
    wb = Workbook()
    ws = wb.active
    ws.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
               "Estimated Emotion"])
    for k, (subject, name, onset, apex, offset, emotion) in enumerate(clips):
        ws.append([subject, name, None, onset, apex, offset, None, "", emotion])
        write_frames(root / "CASME2_RAW_selected" / f"sub{subject:02d}" / name,
                     [f"img{n}.jpg" for n in range(onset, offset + 1)], size=size, seed=k)
    root.mkdir(parents=True, exist_ok=True)
    wb.save(root / "CASME2-coding-20140508.xlsx")
    return root


def many_casme_ii_clips(n=12):
    """``n`` usable CASME II clips of 9 frames over 4 subjects, classes in turn (happiness, disgust, surprise)."""
    emotions = ("happiness", "disgust", "surprise")
    return [(1 + k % 4, f"EP{k:02d}_01", 10, 14, 18, emotions[k % 3]) for k in range(n)]
