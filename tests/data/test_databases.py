"""The cited table of the public databases: internally consistent, every figure sourced."""
import pytest

from mer_lib.data import databases as db


def test_the_composite_is_the_sum_of_its_three_databases():
    composite = next(d for d in db.DATABASE_FACTS if d.name == "MEGC 2019 composite")
    assert db.composite_classes() == composite.classes
    assert composite.clips_in_classes == composite.clips       # every composite clip is in a class


def test_every_figure_has_a_known_source_and_classes_fit_in_the_clips():
    for d in db.DATABASE_FACTS:
        assert set(d.sources) >= {"subjects", "clips", "classes"}, d.name
        assert all(key in db.REFERENCES for key in d.sources.values()), d.name
        assert 0 < d.clips_in_classes <= d.clips and d.subjects > 0, d.name


def test_the_table_has_one_row_per_database():
    table = db.facts_table()
    assert list(table["database"]) == [d.name for d in db.DATABASE_FACTS]
    assert (table["clips in classes"] <= table["clips"]).all()


def test_an_unknown_database_is_refused_by_name():
    from mer_lib.errors import UserInputError

    with pytest.raises(UserInputError, match="CASME III"):
        db.composite_classes(["CASME III"])
