"""Partitioned ingest and cohort (issue 10): splitting an ingest result by partition, summing the
partitions' QC tables, finding shared records over partitions, and streaming the merge."""

import dataclasses

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ketamine_bzd.cohort import CohortSettings, add_equivalents, derive, merge
from ketamine_bzd.equivalents import load_table
from ketamine_bzd.formats import FORMATS
from ketamine_bzd.io import dataset_files, read_table, write_table
from ketamine_bzd.partition import partition_of
from ketamine_bzd.parts import (
    ROW_GROUP_ROWS,
    combine_quarantine,
    combine_reports,
    combine_soft_problems,
    dataset_file_names,
    select_partition,
    shared_records_of,
    write_dataset,
    write_merged_parquet,
)
from ketamine_bzd.provenance import record_signatures, shared_records
from ketamine_bzd.runner import peak_rss_mb
from ketamine_bzd.shipped import resource_path
from ketamine_bzd.soft_problems import count_soft_problems
from ketamine_bzd.synthetic import generate_cohort

K = 3


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Both default studies read whole from their synthetic exports (47 patients)."""
    truth = generate_cohort(47, 20200819)
    base = tmp_path_factory.mktemp("exports")
    out, files_2009 = {}, None
    for study, fmt in (("ket2009", "spss_wide"), ("ket2013", "ecrf_cz")):
        files = FORMATS[fmt].write(truth[study], base / study)
        files_2009 = files if study == "ket2009" else files_2009
        out[study] = FORMATS[fmt].read(study, files, b"k")
    # the ket2009 export configured a second time: the same records under other pseudonyms
    out["ket2021"] = FORMATS["spss_wide"].read("ket2021", files_2009, b"k")
    return out


@pytest.fixture
def ket2013(results):
    """ket2013 with quarantined rows and soft problems, with and without a pseudonym."""
    r = results["ket2013"]
    ids = sorted(r.tables.subjects["patient_id"])
    files = list(r.report["file"])
    extra = pd.DataFrame(
        [
            ("ket2013", files[1], 900, "ID", ids[0], "patient not in the patients file"),
            ("ket2013", files[1], 901, "ID", ids[-1], "patient not in the patients file"),
            ("ket2013", files[2], 902, None, None, "blank line"),
        ],
        columns=r.quarantine.columns,
    )
    quarantine = pd.concat([r.quarantine, extra], ignore_index=True).astype({"row": "int64"})
    report = r.report.copy()
    for f in files:
        n = int((quarantine["file"] == f).sum())
        report.loc[report["file"] == f, "rows_read"] += (
            n - report.loc[report["file"] == f, "rows_quarantined"]
        )
        report.loc[report["file"] == f, "rows_quarantined"] = n
    warnings = [
        f"{files[1]} row 7: visit D1 dated study day 5, nominal day 1",
        f"{files[1]} row 3: patient {ids[-1]} visit D3 dated study day 9, nominal day 3",
    ]
    return dataclasses.replace(r, quarantine=quarantine, report=report, warnings=warnings)


def test_partitions_of_an_ingest_result_add_up_to_the_whole(ket2013):
    parts = [select_partition(ket2013, p, K) for p in range(K)]
    for name in ("subjects", "ratings", "medication"):
        whole = getattr(ket2013.tables, name)
        of = partition_of(whole["patient_id"], K)
        # every row once, in its patient's partition, in the whole file's order
        for i, p in enumerate(parts):
            expected = whole[of == i].reset_index(drop=True)
            pd.testing.assert_frame_equal(getattr(p.tables, name), expected)
        assert sum(len(getattr(p.tables, name)) for p in parts) == len(whole)
    assert all(len(p.tables.subjects) for p in parts)  # 27 patients: no partition is empty
    # quarantine and soft problems: by the pseudonym they name, else partition 0
    assert sum(len(p.quarantine) for p in parts) == len(ket2013.quarantine)
    last = partition_of([sorted(ket2013.tables.subjects["patient_id"])[-1]], K)[0]
    assert parts[last].warnings == [ket2013.warnings[1]] and ket2013.warnings[0] in parts[0].warnings
    assert "blank line" in set(parts[0].quarantine["reason"])
    # counts reconcile in every partition and sum to the file's
    for p in parts:
        r = p.report
        assert (r["rows_read"] == r["rows_accepted"] + r["rows_quarantined"]).all()
    total = combine_reports([p.report for p in parts])
    pd.testing.assert_frame_equal(total, ket2013.report)
    quarantine = combine_quarantine([p.quarantine for p in parts], K)
    assert quarantine["row"].tolist() == [900, 901, 902]  # file order, as one read lists them
    with pytest.raises(ValueError, match="partition 3 is not one of 0..2"):
        select_partition(ket2013, 3, K)


def test_one_partition_is_the_whole_result(ket2013):
    one = select_partition(ket2013, 0, 1)
    pd.testing.assert_frame_equal(one.tables.medication, ket2013.tables.medication)
    pd.testing.assert_frame_equal(one.report, ket2013.report)
    pd.testing.assert_frame_equal(combine_quarantine([one.quarantine], 1), ket2013.quarantine)
    assert one.warnings == ket2013.warnings


def test_reports_that_disagree_on_a_checksum_are_an_error(ket2013):
    a = ket2013.report.assign(sha256="aa")
    b = ket2013.report.assign(sha256="bb")
    with pytest.raises(ValueError, match="disagree on sha256"):
        combine_reports([a, b])


def test_soft_problems_sum_over_partitions_with_the_earliest_example():
    a = pd.DataFrame(
        [["k1", "s", 2, "f.csv row 30"], ["k2", "s", 1, "f.csv row 4"]],
        columns=["kind", "study", "count", "example"],
    )
    b = pd.DataFrame([["k1", "s", 3, "f.csv row 12"]], columns=a.columns)
    out = combine_soft_problems([a, b])
    assert out.values.tolist() == [["k1", "s", 5, "f.csv row 12"], ["k2", "s", 1, "f.csv row 4"]]
    whole = count_soft_problems("s", ["f.csv row 1: visit X dated study day 4, nominal day 1"])
    pd.testing.assert_frame_equal(combine_soft_problems([whole]), whole)


def test_shared_records_over_partitions_equal_the_whole_cohort_check(results):
    studies = [results[s].tables for s in ("ket2009", "ket2013", "ket2021")]
    expected = shared_records(studies)
    assert len(expected) == 20
    # the copies are in other partitions than the originals (pseudonyms differ)
    assert (partition_of(expected["patient_id"], K) != partition_of(expected["first_patient_id"], K)).any()
    # each partition's signatures, partitions in order
    sig = pd.concat(
        [
            pd.DataFrame({"study": t.study, "patient_id": s.index, "signature": s.to_numpy()})
            for p in range(K)
            for t in studies
            for s in [record_signatures(t)]
            for s in [s[partition_of(s.index, K) == p]]
        ],
        ignore_index=True,
    )
    got = shared_records_of(sig, [t.study for t in studies])
    key = ["study", "patient_id"]
    pd.testing.assert_frame_equal(
        got.sort_values(key, ignore_index=True), expected.sort_values(key, ignore_index=True)
    )


def _cohort(tables):
    merged = merge(tables)
    med = add_equivalents(
        merged.medication,
        load_table(resource_path("equivalents/diazepam_paper.csv")),
        load_table(resource_path("equivalents/fluoxetine_hayasaka2015.csv")),
    )
    return derive(merged, med, CohortSettings())


def test_streamed_merge_of_partition_cohorts_equals_the_whole_cohort(results, tmp_path):
    whole_tables = [results[s].tables for s in ("ket2009", "ket2013")]
    whole = _cohort(whole_tables)
    # partition 1 of 3 deliberately empty for ket2009: a column all-null there must not matter
    paths = {name: [] for name in ("patients", "visits", "medication_daily")}
    for p in range(K):
        tables = [select_partition(results[s], p, K).tables for s in ("ket2009", "ket2013")]
        cohort = _cohort(tables)
        for name in paths:
            path = tmp_path / f"{name}-{p}.parquet"
            write_table(getattr(cohort, name), path, "test")
            paths[name].append(path)
    drop = whole.patients[["study", "patient_id"]].iloc[[0, 30]]
    for name, by_study in (("patients", True), ("visits", True), ("medication_daily", False)):
        dest = tmp_path / f"{name}.parquet"
        # the patients' pseudonyms are unique: merged as plain text, as cohort_merge does
        unique = ["patient_id"] if name == "patients" else []
        n = write_merged_parquet(
            paths[name], dest, ["ket2009", "ket2013"] if by_study else None, drop, unique_text=unique
        )
        got = pd.read_parquet(dest).drop(columns="data_source")
        frame = getattr(whole, name)
        keep = ~frame.set_index(["study", "patient_id"]).index.isin(pd.MultiIndex.from_frame(drop))
        expected = frame[keep].reset_index(drop=True)
        assert n == len(expected)
        pd.testing.assert_frame_equal(got, expected)
        assert pq.ParquetFile(dest).num_row_groups == 1  # < ROW_GROUP_ROWS rows: one group
    assert ROW_GROUP_ROWS >= 1 << 16


def test_merge_of_empty_partitions_writes_an_empty_table(results, tmp_path):
    cohort = _cohort([results["ket2009"].tables])
    empty = cohort.patients.iloc[:0]
    write_table(empty, tmp_path / "a.parquet", "test")
    write_table(cohort.patients, tmp_path / "b.parquet", "test")
    dest = tmp_path / "m.parquet"
    assert write_merged_parquet([tmp_path / "a.parquet"], dest, ["ket2009"]) == 0
    assert pd.read_parquet(dest).empty
    n = write_merged_parquet([tmp_path / "a.parquet", tmp_path / "b.parquet"], dest, ["ket2009"])
    assert n == 20
    pd.testing.assert_frame_equal(pd.read_parquet(dest).drop(columns="data_source"), cohort.patients)


def test_peak_rss_is_read_from_proc_status(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t 999999 kB\nVmHWM:\t  204800 kB\nVmRSS:\t 1000 kB\n")
    assert peak_rss_mb(status) == 200
    assert peak_rss_mb(tmp_path / "absent") is None
    assert (peak_rss_mb() or 1) > 0


def test_a_reader_selects_its_partition_by_flag_or_keyword():
    import types

    from ketamine_bzd.ingest import reader_selects_partition

    def plain(study, files, key):
        pass

    def keyword(study, files, key, *, partition=None):
        pass

    assert not reader_selects_partition(types.SimpleNamespace(read=plain))
    assert reader_selects_partition(types.SimpleNamespace(read=keyword))
    # the flag is explicit and wins over the signature
    assert not reader_selects_partition(types.SimpleNamespace(read=keyword, SUPPORTS_PARTITION=False))
    assert reader_selects_partition(types.SimpleNamespace(read=plain, SUPPORTS_PARTITION=True))


@pytest.mark.parametrize("unique_text", [[], ["patient_id"]])
def test_row_groups_do_not_depend_on_where_the_partitions_end(tmp_path, monkeypatch, unique_text):
    import ketamine_bzd.parts as parts

    monkeypatch.setattr(parts, "ROW_GROUP_ROWS", 4)
    frame = pd.DataFrame(
        {"study": ["s"] * 11, "patient_id": [f"P{i:016x}" for i in range(11)], "x": range(11)}
    )
    files = {}
    for cuts in ([11], [3, 5, 3], [1, 9, 1]):
        sources, start = [], 0
        for i, n in enumerate(cuts):
            path = tmp_path / f"{len(cuts)}-{cuts[0]}-{i}.parquet"
            write_table(frame.iloc[start : start + n], path)
            sources.append(path)
            start += n
        dest = tmp_path / f"merged-{'-'.join(map(str, cuts))}.parquet"
        assert parts.write_merged_parquet(sources, dest, ["s"], unique_text=unique_text) == 11
        assert [pq.ParquetFile(dest).metadata.row_group(g).num_rows for g in range(3)] == [4, 4, 3]
        files[tuple(cuts)] = dest.read_bytes()
    assert len(set(files.values())) == 1


def test_a_dataset_of_partition_cohorts_reads_as_the_whole_cohort(results, tmp_path):
    """Visits (study by study, each with its partitions) and intakes (partitions in order) as
    datasets: read in name order they are the whole cohort's tables, less the shared records;
    a file without such records is copied byte for byte, the others are written without them."""
    whole = _cohort([results[s].tables for s in ("ket2009", "ket2013")])
    parts = [
        _cohort([select_partition(results[s], p, K).tables for s in ("ket2009", "ket2013")]) for p in range(K)
    ]
    drop = whole.patients[["study", "patient_id"]].iloc[[0, 30]]
    dropped_in = {p for p in range(K) if parts[p].patients["patient_id"].isin(drop["patient_id"]).any()}
    assert dropped_in and len(dropped_in) < K
    for name in ("visits", "medication_daily"):
        sources = []
        for study in ("ket2009", "ket2013") if name == "visits" else (None,):
            for p in range(K):
                frame = getattr(parts[p], name)
                if study is not None:
                    frame = frame[frame["study"] == study]
                path = tmp_path / f"{name}-{study}-{p}.parquet"
                write_table(frame, path, "test")
                sources.append(path)
        dest = tmp_path / name
        (dest / "stale").mkdir(parents=True)  # a previous run's leftovers go
        n = write_dataset(sources, dest, drop)
        files = dataset_files(dest)
        assert [f.name for f in files] == dataset_file_names(len(sources)) == sorted(f.name for f in files)
        assert not (dest / "stale").exists()
        frame = getattr(whole, name)
        keep = ~frame.set_index(["study", "patient_id"]).index.isin(pd.MultiIndex.from_frame(drop))
        expected = frame[keep].reset_index(drop=True)
        assert n == len(expected)
        pd.testing.assert_frame_equal(read_table(dest).drop(columns="data_source"), expected)
        for i, source in enumerate(sources):
            has_dropped = pd.read_parquet(source)["patient_id"].isin(drop["patient_id"]).any()
            assert (files[i].read_bytes() == source.read_bytes()) != has_dropped, (name, i)


def test_a_dataset_file_with_a_column_all_null_is_written_in_the_others_schema(tmp_path):
    """An empty or all-missing partition (no drug text at all) must not make the dataset
    unreadable: that file is written again with the text type of the others."""
    import pyarrow as pa

    full = pd.DataFrame({"study": ["s", "s"], "patient_id": ["P01", "P02"], "drug": ["diazepam", None]})
    nulls = pd.DataFrame({"study": ["s"], "patient_id": ["P03"], "drug": pd.Series([None], dtype=object)})
    write_table(full, tmp_path / "a.parquet")
    pq.write_table(pa.Table.from_pandas(nulls, preserve_index=False), tmp_path / "b.parquet")
    assert pq.read_schema(tmp_path / "b.parquet").field("drug").type == pa.null()
    assert write_dataset([tmp_path / "a.parquet", tmp_path / "b.parquet"], tmp_path / "d") == 3
    files = dataset_files(tmp_path / "d")
    assert files[0].read_bytes() == (tmp_path / "a.parquet").read_bytes()
    assert pq.read_schema(files[1]).field("drug").type == pq.read_schema(files[0]).field("drug").type
    got = read_table(tmp_path / "d")
    assert got["patient_id"].tolist() == ["P01", "P02", "P03"]
    assert got["drug"].isna().tolist() == [False, True, True]
    # read as categoricals, the files' dictionaries are joined
    coded = read_table(tmp_path / "d", text_as_categories=True)
    assert isinstance(coded["patient_id"].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(coded.astype(got.dtypes.to_dict()), got)


def test_a_dataset_directory_without_files_is_a_clear_error(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(FileNotFoundError, match="without any .parquet file"):
        read_table(tmp_path / "d")
    assert dataset_file_names(3) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert dataset_file_names(123_456)[-1] == "part-123455.parquet"
