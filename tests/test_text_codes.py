"""Text kept as integer codes in the cohort job (issue 10): every coded path gives the tables,
files and errors of the text path."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ketamine_bzd.canonical import StudyTables
from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge, sorted_rows
from ketamine_bzd.definitions import dose_exposure, dose_summaries
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.formats import FORMATS
from ketamine_bzd.formats.column_reading import TextColumn
from ketamine_bzd.io import read_study_tables, read_table, write_table, write_table_from_categories
from ketamine_bzd.shipped import resource_path
from ketamine_bzd.synthetic import generate_cohort


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Both default studies (47 patients) as ingest writes them: read as text and as codes."""
    truth = generate_cohort(47, 20200819)
    base = tmp_path_factory.mktemp("ingest")
    text, coded = [], []
    for study, fmt in (("ket2009", "spss_wide"), ("ket2013", "ecrf_cz")):
        tables = FORMATS[fmt].read(study, FORMATS[fmt].write(truth[study], base / study), b"k" * 32).tables
        paths = [base / f"{study}-{name}.parquet" for name in ("subjects", "ratings", "medication")]
        for path, name in zip(paths, ("subjects", "ratings", "medication")):
            write_table(getattr(tables, name), path)
        text.append(read_study_tables(study, *paths))
        coded.append(read_study_tables(study, *paths, text_as_categories=True))
    return text, coded


def _tables():
    return (
        load_table(resource_path("equivalents/diazepam_paper.csv")),
        load_table(resource_path("equivalents/fluoxetine_hayasaka2015.csv")),
    )


def test_the_coded_cohort_writes_the_files_of_the_text_cohort(studies, tmp_path):
    text, coded = studies
    assert isinstance(coded[0].medication["drug"].dtype, pd.CategoricalDtype)
    merged_text, merged_coded = merge(text), merge(coded)
    categories = merged_coded.medication["patient_id"].cat.categories
    assert categories.is_monotonic_increasing  # the categories' order is the texts' order
    cohort_text = derive(merged_text, add_equivalents(merged_text.medication, *_tables()), CohortSettings())
    med = add_equivalents(merged_coded.medication, *_tables(), text_as_categories=True)
    cohort_coded = derive(merged_coded, med, CohortSettings(), text_as_categories=True)
    pd.testing.assert_frame_equal(cohort_coded.patients, cohort_text.patients)
    for name in ("visits", "medication_daily"):
        assert isinstance(getattr(cohort_coded, name)["patient_id"].dtype, pd.CategoricalDtype)
        write_table(getattr(cohort_text, name), tmp_path / "text.parquet", "test data")
        write_table_from_categories(getattr(cohort_coded, name), tmp_path / "coded.parquet", "test data")
        expected = pd.read_parquet(tmp_path / "text.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "coded.parquet"), expected)
        a, b = pq.ParquetFile(tmp_path / "coded.parquet"), pq.ParquetFile(tmp_path / "text.parquet")
        assert a.schema_arrow == b.schema_arrow
        assert a.metadata.metadata == b.metadata.metadata  # pandas metadata and Arrow schema
        text_back = read_table(tmp_path / "coded.parquet", text_as_categories=True)
        pd.testing.assert_frame_equal(
            text_back.astype({c: "str" for c in expected if expected[c].dtype == "str"}), expected
        )


def test_a_categorical_with_missing_values_is_written_as_its_text(tmp_path):
    frame = pd.DataFrame({"a": pd.Series(["x", None, "y", "x"], dtype="str"), "b": [1.0, np.inf, 2.0, 3.0]})
    coded = frame.assign(a=pd.Categorical(frame["a"]))
    write_table(frame, tmp_path / "text.parquet", "d")
    write_table_from_categories(coded, tmp_path / "coded.parquet", "d")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "coded.parquet"), pd.read_parquet(tmp_path / "text.parquet")
    )
    assert pd.read_parquet(tmp_path / "coded.parquet")["b"].isna().sum() == 1  # infinity: empty


@pytest.mark.parametrize("with_missing_key", [False, True])
def test_sorted_rows_as_categories_is_the_text_sort(with_missing_key):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "patient_id": pd.Series(rng.choice(["P3", "P1", "P2"], 50), dtype="str"),
            "study_day": rng.integers(-7, 8, 50),
            "drug": pd.Series(rng.choice(["b", "a", "c"], 50), dtype="str"),
            "dose_mg": rng.random(50),
        }
    )
    if with_missing_key:  # the fallback: pandas' own sort
        frame.loc[3, "drug"] = None
    keys = ["patient_id", "study_day", "drug"]
    text = sorted_rows(frame, keys)
    coded = sorted_rows(frame, keys, text_as_categories=True)
    assert isinstance(coded["drug"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(coded.astype({"patient_id": "str", "drug": "str"}), text)
    pd.testing.assert_frame_equal(text, frame.sort_values(keys, ignore_index=True, kind="stable"))


def test_a_repeated_rating_is_still_pandas_pivot_error(studies):
    text, _ = studies
    t = text[0]
    twice = StudyTables(
        t.study, t.subjects, pd.concat([t.ratings, t.ratings.iloc[:1]], ignore_index=True), t.medication
    )
    med = add_equivalents(t.medication, *_tables())
    with pytest.raises(ValueError, match="duplicate entries"):
        derive(twice, med, CohortSettings())


def test_dose_summaries_are_dose_exposure_of_each_summary(studies):
    text, _ = studies
    med = add_equivalents(merge(text).medication, *_tables())
    ids = pd.Index(merge(text).subjects["patient_id"])
    got = dose_summaries(med, ids, "diazepam_eq_mg", (-1, 7), ("mean", "max", "first"))
    pd.testing.assert_series_equal(got["mean"], dose_exposure(med, ids, "diazepam_eq_mg", (-1, 7)))
    pd.testing.assert_series_equal(got["max"], dose_exposure(med, ids, "diazepam_eq_mg", (-1, 7), "max"))
    first = dose_exposure(med, ids, "diazepam_eq_mg", (-1, -1), "first")
    np.testing.assert_array_equal(got["first"].to_numpy(), first.to_numpy())
    with pytest.raises(ValueError, match="unknown dose summary"):
        dose_summaries(med, ids, "diazepam_eq_mg", (-1, 7), ("median",))


@pytest.mark.parametrize("encoding", ["cp1250", "utf-8"])
def test_distinct_texts_are_decoded_as_one_by_one(encoding):
    texts = ["Příliš žluťoučký", "", "  x ", "a\x00b", "kůň"]
    column = TextColumn.from_arrow(pa.array([t.encode(encoding) for t in texts * 3], pa.binary()), encoding)
    assert [column.text(i) for i in range(len(texts) * 3)] == [t.strip() for t in texts * 3]
    with pytest.raises(UnicodeDecodeError):  # as before: the value that does not decode
        TextColumn.from_arrow(
            pa.array([b"ok", b"\x81" if encoding == "cp1250" else b"\xff"], pa.binary()), encoding
        )


def test_written_dictionaries_hold_the_texts_in_order_of_first_use(tmp_path):
    values = pd.Categorical(["c", None, "a", "c", "b", None, "a"], categories=["a", "b", "c", "unused"])
    write_table_from_categories(pd.DataFrame({"t": values, "x": np.arange(7.0)}), tmp_path / "f.parquet")
    column = pq.read_table(tmp_path / "f.parquet", read_dictionary=["t"]).column("t").chunk(0)
    assert column.dictionary.to_pylist() == ["c", "a", "b"]
    assert column.indices.to_pylist() == [0, None, 1, 0, 2, None, 1]
    empty = pd.DataFrame({"t": values[:0], "x": np.arange(0.0)})
    write_table_from_categories(empty, tmp_path / "e.parquet")
    assert pd.read_parquet(tmp_path / "e.parquet").empty


def test_a_text_column_longer_than_a_dictionary_page_is_written_plain(tmp_path, monkeypatch):
    """Written from codes, a text column whose distinct texts exceed a dictionary page (a
    registry partition's pseudonyms) is stored plain, the others as dictionaries; the file reads
    back as the text frame's, as text and as categoricals."""
    import ketamine_bzd.io as io

    monkeypatch.setattr(io, "DICTIONARY_PAGE_BYTES", 100)
    ids = [f"P{i:016x}" for i in range(40)]
    text = pd.DataFrame(
        {"patient_id": [i for i in ids for _ in range(3)], "drug": ["diazepam", "clonazepam", None] * 40}
    ).astype("str")
    coded = text.astype("category")
    io.write_table_from_categories(coded, tmp_path / "coded.parquet")
    io.write_table(text, tmp_path / "text.parquet")
    meta = pq.ParquetFile(tmp_path / "coded.parquet").metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert not any("DICTIONARY" in e for e in encodings["patient_id"])
    assert any("DICTIONARY" in e for e in encodings["drug"])
    pd.testing.assert_frame_equal(
        io.read_table(tmp_path / "coded.parquet"), io.read_table(tmp_path / "text.parquet")
    )
    back = io.read_table(tmp_path / "coded.parquet", text_as_categories=True)
    assert back["patient_id"].astype("str").tolist() == text["patient_id"].tolist()
