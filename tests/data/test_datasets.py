import numpy as np
import pytest

from mer_lib.data import DATASETS, apex_index, load_dataset


def test_synth_in_one_call():
    data = load_dataset("synth", fast=True, progress=False)
    clips, labels, subjects, apex, names = data          # a named tuple: unpacks like the CLI's old 5-tuple
    assert clips.shape == (10, 8, 64, 64) and labels.shape == subjects.shape == apex.shape == (10,)
    assert names == ["negative", "positive", "surprise"] and set(labels) == {0, 1, 2}
    assert np.all((apex >= 1) & (apex < 8))


@pytest.mark.parametrize("name, kwargs, match", [("smic-e", {}, "unknown dataset 'smic-e': choose from synth"),
                                                 ("casme2", {}, "root is required for the dataset 'casme2'")])
def test_bad_names_and_missing_roots_are_named(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(name, **kwargs)


def test_every_registered_dataset_is_loadable_by_name():
    assert list(DATASETS) == ["synth", "casme2", "casme-ii", "megc2019"]
    for name in DATASETS:
        if name != "synth":     # a missing root is refused, not an unknown name
            with pytest.raises(ValueError, match="root is required"):
                load_dataset(name)


@pytest.mark.parametrize("onset, apex, offset, n, expected", [(100, 110, 120, 8, 4), (100, 100, 120, 8, 1),
                                                              (100, 120, 120, 8, 7), (0, 3, 9, 4, 1),
                                                              (5, 5, 5, 8, 1), (0, 6, 9, 4, 2)])
def test_apex_index_is_the_nearest_resampled_frame_after_the_onset(onset, apex, offset, n, expected):
    assert apex_index(onset, apex, offset, n) == expected


def test_apex_index_refuses_an_apex_outside_the_clip():
    with pytest.raises(ValueError, match="apex 130 is outside the clip"):
        apex_index(100, 130, 120, 8)
    with pytest.raises(ValueError, match="n_frames"):
        apex_index(100, 110, 120, 1)
