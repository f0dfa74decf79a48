import numpy as np
import pytest

from mer_lib import experiments as ex
from mer_lib.errors import UserInputError


def test_rows_take_the_inputs_of_their_model(tiny):
    frames, flows, labels, subjects = tiny
    index = np.arange(4)
    assert ex.row_inputs(ex.TABLE3[0], frames, flows, index).shape == (4, 8, 16, 16, 1)
    assert set(ex.row_inputs(ex.TABLE3[2], frames, flows, index)) == {"frames", "flow"}
    assert set(ex.row_inputs(ex.CONTROLS[1], frames, flows, index)) == {"frames"}
    assert set(ex.row_inputs(ex.CONTROLS[2], frames, flows, index)) == {"flow"}
    shuffled = ex.row_inputs(ex.CONTROLS[3], frames, flows, np.arange(12))["flow"]
    own = flows["pbvm"]
    assert not any(np.array_equal(shuffled[i], own[i]) for i in range(12))       # no clip keeps its own flow
    assert sorted(map(bytes, shuffled)) == sorted(map(bytes, own))                # every flow used once
    with pytest.raises(ValueError, match="needs the flow input 'evm'"):
        ex.row_inputs(ex.TABLE4[3], frames, flows, index)


def test_full_rows_hold_each_model_and_input_once():
    keys = [r.key for r in ex.FULL_ROWS]
    assert len(keys) == len(set(keys)) == 8
    assert {"two_stream-pbvm", "two_stream_corrected-pbvm", "frames_stream-frames", "flow_stream-pbvm",
            "two_stream-pbvm-shuffled", "two_stream-flow"} <= set(keys)


def test_every_model_name_has_a_builder():
    from mer_lib.experiments import rows

    assert set(rows._builders()) == set(ex.MODELS)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        ex.build("nope", (8, 16, 16, 1))


def test_a_row_is_found_by_its_key_and_rows_are_selected_by_key_or_label():
    assert ex.row_by_key("two_stream-pbvm") == ex.TABLE3[2]
    assert ex.row_by_key("two_stream-evm") == ex.TABLE4[3]       # a row of Table 4 outside the full plan
    with pytest.raises(UserInputError, match="'two_stream-pbmv' is not a row"):
        ex.row_by_key("two_stream-pbmv")
    assert ex.select_rows(["Our method", "cnn_rnn-frames"], ex.FULL_ROWS) == ["cnn_rnn-frames", "two_stream-pbvm"]
    with pytest.raises(UserInputError, match="--loso-rows: 'two_stream-pbmv' is not a row"):
        ex.select_rows(["two_stream-pbmv"], ex.FULL_ROWS, "--loso-rows")


def test_the_cnn_rnn_row_builds_onset_relative_frames_and_its_plan_records_it():
    model = ex.build("cnn_rnn", (8, 16, 16, 1))()
    assert "onset_relative" in [layer.name for layer in model.layers]
    assert ex.MODEL_VARIANTS["cnn_rnn"] == {"inputs": "onset_relative"}
    assert ex.model_variants(ex.TABLE3) == {"cnn_rnn": {"inputs": "onset_relative"}}
    assert ex.model_variants(ex.CONTROLS) == {}            # models unchanged since folders were first written
