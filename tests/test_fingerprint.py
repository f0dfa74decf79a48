"""Fingerprints of the network inputs that agree across machines (mer_lib.fingerprint)."""

import json
from pathlib import Path

import numpy as np
import pytest

from mer_lib import fingerprint as fp

REFERENCE = Path(__file__).resolve().parent / "fingerprints" / "synth_fast_3clips.json"


def _small_synthme():
    """The first 3 clips of the fast SynthME set, through the experiments' pre-processing (flow and PBVM)."""
    from mer_lib.data import load_dataset
    from mer_lib.pipeline import network_inputs

    data = load_dataset("synth", fast=True, progress=False)
    frames, flows = network_inputs(data.clips[:3], ["flow", "pbvm"], apex=data.apex[:3], n_jobs=1, progress=False)
    arrays = {"frames": frames, **{f"flow_{k}": v for k, v in flows.items()}}
    return arrays, data.labels[:3], data.subjects[:3]


def test_a_small_synthme_set_regenerates_its_committed_sketch():
    reference = json.loads(REFERENCE.read_text())
    arrays, labels, subjects = _small_synthme()
    here = fp.input_sketch(arrays, labels, subjects)
    differences = fp.compare_sketches(reference["sketch"], here)
    assert differences == [], ("SynthME's network inputs are not the ones committed (made on "
                               f"{reference['versions']}): " + "; ".join(differences))
    # the comparison can fail: other inputs under the same names are found out
    swapped = fp.input_sketch({"frames": arrays["frames"], "flow_flow": arrays["flow_pbvm"],
                               "flow_pbvm": arrays["flow_flow"]}, labels, subjects)
    assert {d.split(":")[0] for d in fp.compare_sketches(reference["sketch"], swapped)} == {"flow_flow", "flow_pbvm"}


def test_rounding_noise_agrees_and_other_data_do_not():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 16, 8, 8, 1)).astype(np.float32)
    labels, subjects = [0, 1, 2, 0, 1, 2], list("aabbcc")
    sketch = fp.input_sketch({"frames": x}, labels, subjects)
    one_ulp = np.nextafter(x, np.float32(np.inf))              # every value one ulp up
    noisy = x + rng.normal(scale=1e-5, size=x.shape).astype(np.float32)
    assert fp.compare_sketches(sketch, fp.input_sketch({"frames": one_ulp}, labels, subjects)) == []
    assert fp.compare_sketches(sketch, fp.input_sketch({"frames": noisy}, labels, subjects)) == []
    moved = x.copy()
    moved[2] = np.roll(x[2], 1, axis=1)                           # one clip's content moved by a pixel
    diffs = fp.compare_sketches(sketch, fp.input_sketch({"frames": moved}, labels, subjects))
    assert len(diffs) == 1 and diffs[0].startswith("frames: projections")
    other = fp.compare_sketches(sketch, fp.input_sketch({"frames": x}, [0, 1, 2, 0, 1, 1], subjects))
    assert other and other[0].startswith("labels")


def test_a_folder_says_whether_its_data_are_the_ones_loaded(tmp_path):
    rng = np.random.default_rng(1)
    x = {"frames": rng.normal(size=(4, 8, 6, 6, 1)).astype(np.float32),
         "flow_pbvm": rng.normal(size=(4, 16, 6, 6, 1)).astype(np.float32)}
    labels, subjects = [0, 1, 2, 0], list("abab")
    record = {"data": "0" * 16, "data_sketch": fp.input_sketch(x, labels, subjects), "dataset": {"n_clips": 4},
              "preprocessing_versions": fp.preprocessing_versions()}
    status, sentence = fp.check_folder_data(record, {"flow_pbvm": x["flow_pbvm"] + 1e-7}, labels, subjects)
    assert status == "agrees" and "flow_pbvm" in sentence
    status, sentence = fp.check_folder_data(record, {"flow_pbvm": x["frames"].repeat(2, axis=1)}, labels, subjects)
    assert status == "differs" and sentence.startswith("the folder's inputs differ")
    assert fp.check_folder_data(record, x, labels, subjects, fingerprint="0" * 16)[0] == "identical"
    assert fp.check_folder_data(record, {"frames": x["frames"][:3]}, labels[:3])[0] == "other data"
    old = {"data_fingerprint": "02d3f87bb0d60c66", "device": "GPU", "numpy_version": "2.5.2", "dataset": {"n_clips": 4}}
    status, sentence = fp.check_folder_data(old, x, labels, subjects, fingerprint="3030d3f613f1a7ea")
    assert status == "unknown" and "02d3f87bb0d60c66" in sentence and "cannot be told" in sentence


def test_the_versions_name_every_library_the_preprocessing_uses():
    v = fp.preprocessing_versions()
    assert {"python", "numpy", "scipy", "opencv", "scikit_image", "numpy_simd", "opencv_cpu"} <= set(v)
    assert v["numpy"] == np.__version__
