import json

import pytest

from mer_lib import experiments as ex
from mer_lib.errors import UserInputError


def test_summarising_a_folder_again_reads_its_plan_and_touches_no_pyplot_state(results_copy, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt

    before = (matplotlib.get_backend(), plt.get_fignums())
    switched = []
    monkeypatch.setattr(matplotlib, "use", lambda *args, **kwargs: switched.append(args))
    tables = ex.summarize_results(results_copy)          # rows, classes and folds from its provenance
    assert switched == [], "library code selected a matplotlib backend (a notebook's later figures would vanish)"
    assert (matplotlib.get_backend(), plt.get_fignums()) == before
    assert list(tables["row"].unique()) == [r.label for r in (ex.TABLE3[2], ex.CONTROLS[2])]
    ex.validate_results(results_copy)


def test_a_stray_record_is_never_summarised(results_copy):
    runs = results_copy / "runs"
    record = json.loads((runs / "two_stream-pbvm__paper__paper__r0__f0.json").read_text())
    (runs / "two_stream-pbvm__paper__paper__r7__f0.json").write_text(json.dumps(record))     # another repeat's name
    with pytest.raises(UserInputError, match="r7__f0.json is a record of no fold of this folder's plan"):
        ex.summarize_results(results_copy)
    (runs / "two_stream-pbvm__paper__paper__r7__f0.json").unlink()
    record["identity"]["epochs"] = 50                   # a record of the same name from a run of other settings
    (runs / "two_stream-pbvm__paper__paper__r0__f0.json").write_text(json.dumps(record))
    with pytest.raises(UserInputError, match=r"r0__f0.json is a record of other settings \(epochs is 50 there"):
        ex.summarize_results(results_copy)


def test_a_truncated_record_is_a_one_line_error_naming_it(results_copy):
    path = next((results_copy / "runs").glob("*.json"))
    path.write_text(path.read_text()[:100])
    with pytest.raises(UserInputError, match=f"{path.name} is not a valid run record") as err:
        ex.summarize_results(results_copy)
    assert "\n" not in str(err.value)
