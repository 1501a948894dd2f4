"""The column-wise shortcuts of the ingest job (issue 10) against their plain definitions, on
inputs the synthetic generator never makes: repeats, empty and one-element inputs, missing
cells, IDs in only one file, new IDs in a later file, identifiers needed by an error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from ketamine_bzd.errors import DeferredIdentifiers, IngestError, Quarantine, add_identifiers
from ketamine_bzd.formats import column_reading, common, spss_wide
from ketamine_bzd.partition import partition_of

KEY = b"test-key"
rng = np.random.default_rng(11)


@pytest.mark.parametrize(
    "key",
    [
        np.zeros(0, np.int64),
        np.array([5]),
        np.array([3, 3]),
        np.arange(1000)[::-1].copy(),
        rng.integers(0, 50, 300),
        np.r_[np.arange(100), 99],
        np.array([-2, 7, -2], np.int32),
    ],
    ids=["empty", "one", "two equal", "distinct", "random repeats", "last repeats", "negative"],
)
def test_duplicated_is_pandas_duplicated(key):
    want = pd.Series(key, dtype=key.dtype).duplicated(keep="first").to_numpy()
    assert column_reading.duplicated(key).tolist() == want.tolist()


def _plain_pseudonyms_and_parts(uniques, count):
    pseudonyms = [None if u == "" else common.Pseudonyms("s", KEY)(u) for u in uniques]
    parts = [0 if p is None else int(partition_of([p], count)[0]) for p in pseudonyms]
    return pseudonyms, parts


def test_pseudonyms_and_partitions_across_files():
    """Files of one study decoded in turn: later files name new IDs, the empty ID, and fewer
    patients; each file's pseudonyms and partitions are those computed ID by ID."""
    pseudo = common.Pseudonyms("s", KEY)
    files = [["101", "102", "103"], ["", "103", "104"], ["104"], [""], []]
    for count in (1, 3):
        for uniques in files:
            pseudonyms, parts = column_reading.pseudonyms_and_partitions(list(uniques), pseudo, count)
            want_p, want_parts = _plain_pseudonyms_and_parts(uniques, count)
            assert pseudonyms == want_p
            assert parts.tolist() == want_parts
            assert pseudonyms == column_reading.pseudonyms_of(list(uniques), common.Pseudonyms("s", KEY))


def _columns(ids):
    column = column_reading.TextColumn.from_texts(ids)
    table = column_reading.Columns(
        "f.csv", np.arange(1, len(ids) + 1), {"ID": column}, np.zeros(len(ids), bool), len(ids)
    )
    column_reading.pseudonymize_ids(table, "ID", common.Pseudonyms("s", KEY))
    return table


@pytest.mark.parametrize(
    "patients, records",
    [
        (["1", "2", "3"], ["3", "1", "1", "9", ""]),
        (["1"], ["1"]),
        (["1", "2"], []),
        ([], ["1", "2"]),
        (["5", "6"], ["7", "8"]),  # IDs in only one file
    ],
    ids=["some unknown", "one patient", "no records", "no patients", "no overlap"],
)
def test_patient_codes_with_a_patient_index(patients, records):
    pseudo = common.Pseudonyms("s", KEY)
    names = [pseudo(p) for p in patients]
    table = _columns(records)
    plain = {p: i for i, p in enumerate(names)}
    want = [
        plain.get(p, -1) if p is not None else -1
        for p in (table.pseudonyms[c] for c in table.columns["ID"].codes)
    ]
    index = column_reading.PatientIndex(names)
    assert dict(index) == plain
    for _ in range(2):  # the pandas index is built once and reused
        assert column_reading.patient_codes(table, "ID", index).tolist() == want
    assert column_reading.patient_codes(table, "ID", plain).tolist() == want


def test_deferred_identifiers_are_the_set():
    ids = DeferredIdentifiers({"A1"})
    add_identifiers(ids, lambda: iter(["K-001", "K-002"]))
    add_identifiers(ids, lambda: ["K-003"])
    assert "K-002" in ids and "K-003" in ids and "K-004" not in ids
    assert len(ids) == 4 and sorted(ids) == ["A1", "K-001", "K-002", "K-003"]
    plain: set[str] = set()
    add_identifiers(plain, lambda: ["x"])
    assert plain == {"x"}


def test_deferred_identifiers_withhold_in_errors_and_quarantine():
    ids = DeferredIdentifiers()
    add_identifiers(ids, lambda: ["9001234"])
    err = IngestError("f.csv", "bad value", row=3, column="DOSE", value="9001234").withhold_identifiers(ids)
    assert "9001234" not in str(err)
    quarantine = Quarantine("s", identifiers=ids)
    quarantine.add("f.csv", 4, "DAY", "9001234", "outside")
    assert "9001234" not in quarantine.frame()["value"].tolist()
    untouched = DeferredIdentifiers()
    add_identifiers(untouched, lambda: (_ for _ in ()).throw(AssertionError("read without need")))
    assert len(Quarantine("s", identifiers=untouched).frame()) == 0  # an empty quarantine never reads them


def _plain_var(series):
    """``spss_wide._Var``'s text columns as the value-by-value definition has them."""
    values = series.astype(object).to_numpy()
    texts = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values]
    column = column_reading.TextColumn.from_texts(texts)
    blank = column.each(lambda u: not u.strip(), bool)
    sysmis = [v is None or (isinstance(v, float) and math.isnan(v)) for v in values]
    return column, blank, sysmis


@pytest.mark.parametrize(
    "cells",
    [
        ["K1", "K2", " K1 ", "", "  ", None, float("nan"), "K3"],
        ["only"],
        [],
        [None, None],
        ["a", 5, None],  # not all text: the value-by-value path
        ["a", pd.NA, "b"],  # a missing marker that is neither None nor NaN
    ],
    ids=["mixed", "one", "empty", "all missing", "a number", "pd.NA"],
)
def test_sav_text_variable_column_wise(cells):
    series = pd.Series(cells, dtype=object)
    var = spss_wide._Var(series, [])
    column, blank, sysmis = _plain_var(series)
    assert var.text
    assert var.column.uniques == column.uniques and var.column.codes.tolist() == column.codes.tolist()
    assert var.blank.tolist() == blank.tolist()
    assert np.asarray(var.sysmis).tolist() == sysmis


@pytest.mark.parametrize("kind", [pa.binary(), pa.string()])
@pytest.mark.parametrize(
    "values",
    [
        [],
        [""],
        ["K1", "K2", "13-000003"],
        ["K1", " K2"],
        ["K1", "K2\t"],
        ["a\x1c", "b"],
        ["Rivotril 0,5 mg", "Neurol 0,25 mg"],
        ["Ž", "M"],
        ["x\u00a0"],
        ["\u3000y"],
        ["12.03.2014", "", "<LOD"],
    ],
)
def test_from_arrow_strips_as_str_strip(values, kind):
    """The shortcut that skips ``str.strip`` (printable ASCII at both ends) against stripping
    every distinct text, in cp1250 and UTF-8."""
    for encoding in ("cp1250", "utf-8"):
        try:
            raw = [v.encode(encoding) for v in values]
        except UnicodeEncodeError:
            continue
        if kind == pa.binary():
            array = pa.chunked_array([pa.array(raw, pa.binary())])
            column = column_reading.TextColumn.from_arrow(array, encoding)
        elif encoding == "utf-8":
            column = column_reading.TextColumn.from_arrow(pa.chunked_array([pa.array(values, pa.string())]))
        else:
            continue
        want = column_reading.TextColumn.from_texts(values)
        assert [column.uniques[c] for c in column.codes] == [want.uniques[c] for c in want.codes]
        assert len(set(column.uniques)) == len(column.uniques)


@pytest.mark.parametrize(
    "content",
    [
        b"ID;A\r\n1;x\r\n2;y\r\n",
        b"ID;A\r\n1;x\r2;y\r\n",  # a bare CR in a record
        b"ID;A\r\n1;x\r\r\n2;y\r\n",  # a bare CR before a CR LF
        b"ID\r;A\r\n1;x\r\n",  # in the header
        b"ID;B\r\n1;x\r2;y\r\n",  # a header error and a bare CR further on
        b"ID;B\r\n1;x\r\n",  # a header error alone
        b"ID;A\n1;x\r2;y\n",
        b"ID;A\r\n1;x\r\n\r2;y\r\n",
    ],
)
def test_bare_carriage_returns_take_the_text_path(tmp_path, content):
    """A bare CR is looked for in the header only; elsewhere Arrow's record count hands the
    file to the record reader's path: the result (or the error) is that path's."""
    path = tmp_path / "f.csv"
    path.write_bytes(content)

    def outcome(read):
        try:
            t = read()
        except IngestError as err:
            return str(err)
        return t.rows.tolist(), {k: [c.uniques[i] for i in c.codes] for k, c in t.columns.items()}

    kw = dict(encoding="cp1250", delimiter=";", id_column="ID", identifiers=set())
    fast = outcome(lambda: column_reading.read_columns(path, "r", ["ID", "A"], **kw))
    text = outcome(lambda: column_reading._read_text(path, ["ID", "A"], "cp1250", ";", "ID", set()))
    assert fast == text


@pytest.mark.parametrize("texts", [[], ["M"], ["Ž", "M", "Ž", "", "<LOD"]])
def test_texts_taken_by_arrow_are_the_texts_of_each(texts):
    column = column_reading.TextColumn.from_texts(texts)
    fn = {"Ž": "F", "M": "M"}.get
    got = pd.Series(column.texts(lambda u: fn(u, "")))
    want = pd.Series(column.each(lambda u: fn(u, ""), object)).astype(column_reading.TEXT)
    pd.testing.assert_series_equal(got, want)
