"""The generator and the export writers at scale: parts, column-wise bytes, as-needed doses.

The exports are written column-wise (``formats.columnar``); here they are checked against a
row-wise ``csv.writer`` reference, ``write_parts`` against ``write``, the packed ``.sav`` cases
against pyreadstat writing every case, and the resampled cohorts' as-needed doses against the
template's rate. Sizes stay small (a few hundred patients): the 10^6 runs are in
``benchmarks/bench_generator.py``.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from ketamine_bzd.formats import FORMATS, columnar, common, spss_wide
from ketamine_bzd.synthetic import STUDIES, generate_cohort, generate_cohort_parts

FORMAT_OF = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
SEED = 1  # its template's three as-needed patients are all in ket2009


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(300, SEED)


@pytest.mark.slow  # a 300-patient cohort, generated whole and in parts
def test_parts_concatenate_to_the_whole(cohort):
    parts = generate_cohort_parts(300, SEED, patients_per_part=40)
    for study in STUDIES:
        got = list(parts[study])
        assert len(got) == -(-len(cohort[study].subjects) // 40)
        for name in ("subjects", "ratings", "medication"):
            whole = pd.concat([getattr(p, name) for p in got], ignore_index=True)
            pd.testing.assert_frame_equal(whole, getattr(cohort[study], name))


@pytest.mark.parametrize("study", STUDIES)
def test_write_parts_gives_the_bytes_of_write(study, cohort, tmp_path):
    module = FORMATS[FORMAT_OF[study]]
    whole = module.write(cohort[study], tmp_path / "whole")
    parts = module.write_parts(generate_cohort_parts(300, SEED, 35)[study], tmp_path / "parts")
    assert {r: p.read_bytes() for r, p in whole.items()} == {r: p.read_bytes() for r, p in parts.items()}


def test_resampled_cohorts_carry_as_needed_doses_in_each_study(cohort):
    """The template's 3 of 47 patients with an as-needed dose are all in ket2009 for this seed;
    ket2013 still gets single doses at that rate, only on patients without any BZD, so that
    nobody's BZD use (> 2 days) or BZD+ (> 8 mg diazepam eq.) changes."""
    for study in STUDIES:
        t = cohort[study]
        med = t.medication
        prn = med[med["as_needed"]]
        k = len(t.subjects)
        assert prn["patient_id"].nunique() >= round(k * 3 / 47) > 0
        assert not med.duplicated(["patient_id", "study_day", "drug", "as_needed"]).any()
    med13 = cohort["ket2013"].medication
    added = med13[med13["as_needed"]]
    regular_bzd = set(med13.loc[(med13["drug_class"] == "bzd") & ~med13["as_needed"], "patient_id"])
    assert added["patient_id"].is_unique and not set(added["patient_id"]) & regular_bzd
    assert set(zip(added["drug"], added["dose_mg"])) == {("oxazepam", 10.0)}
    assert set(added["study_day"]) <= {-1, 1}


def test_written_as_needed_file_reads_back(cohort, tmp_path):
    truth = cohort["ket2013"]
    files = FORMATS["ecrf_cz"].write(truth, tmp_path)
    n_rows = len(files["prn"].read_bytes().splitlines()) - 1
    assert n_rows == int(truth.medication["as_needed"].sum()) > 0
    result = FORMATS["ecrf_cz"].read("ket2013", files, b"k")
    assert result.quarantine.empty
    assert int(result.tables.medication["as_needed"].sum()) == n_rows


def _reference_csv(header, rows, delimiter, newline, encoding) -> bytes:
    """The row-wise writer the column-wise one replaced."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delimiter, lineterminator=newline)
    w.writerow(header)
    w.writerows([[str(x) for x in r] for r in rows])
    return buf.getvalue().encode(encoding)


@pytest.mark.parametrize(
    "dialect", [columnar.Dialect(";", "\r\n", "cp1250"), columnar.Dialect(",", "\n", "utf-8")]
)
def test_columnar_bytes_equal_csv_writer(dialect, tmp_path):
    rng = np.random.default_rng(0)
    texts = ["a", "Ž", "b;c", 'say "hi"', "x,y", "line\nbreak", "cr\rhere", "Léčiva 10 mg", ""]
    numbers = np.array([0.1, 2.0, 226.4, 1e-7, 3.5, np.nan, 7.0])
    n = 5_000
    t_idx = rng.integers(0, len(texts), n)
    n_idx = rng.integers(0, len(numbers), n)
    days = rng.integers(-7, 8, n)
    flags = rng.random(n) < 0.5
    ids = np.array([f"P{i // 3:05d}" for i in range(n)], dtype=object)
    rows = [
        [
            ids[i],
            texts[t_idx[i]],
            int(days[i]),
            "" if np.isnan(numbers[n_idx[i]]) else common.format_number(numbers[n_idx[i]]),
            int(flags[i]),
        ]
        for i in range(n)
    ]
    header = ["ID", "Text; with delimiter", "DAY", "DOSE", "FLAG"]
    columns = [
        columnar.factorize(pd.Series(ids, dtype="str")),
        columnar.factorize(np.array([texts[i] for i in t_idx], dtype=object)),
        columnar.mapped(columnar.factorize(days), int),
        columnar.mapped(columnar.factorize(numbers[n_idx]), common.format_number),
        columnar.mapped(columnar.factorize(flags), lambda v: int(bool(v))),
    ]
    path = tmp_path / "t.csv"
    with columnar.TableFile(
        path, header, dialect, missing=[None, None, None, "", None], chunk_rows=777
    ) as table:
        table.append([c.take(np.arange(0, 2_000)) for c in columns])
        table.append([c.take(np.arange(2_000, n)) for c in columns])
    want = _reference_csv(header, rows, dialect.delimiter, dialect.newline, dialect.encoding)
    assert path.read_bytes() == want


def test_dose_run_bounds_match_the_row_loop():
    rng = np.random.default_rng(3)
    n = 3_000
    group = np.sort(rng.integers(0, 40, n))
    days = rng.integers(-7, 8, n)
    order = np.lexsort((days, group))
    group, days = group[order], days[order]
    doses = rng.choice([0.5, 1.0, 1.0, 1.0, 2.0], n)
    first, last = common.dose_run_bounds(group, days, doses)
    want = []
    for g in np.unique(group):
        at = np.flatnonzero(group == g)
        for a, b, d in common.dose_runs(days[at], doses[at]):
            want.append((g, a, b, d))
    got = [(group[f], days[f], days[e], doses[f]) for f, e in zip(first, last)]
    assert got == want


@pytest.mark.parametrize(
    "ids", [["K09-1", "K09-123456789", "K09-22"], ["a", "bb", "ccc"], ["Pacient Č1", "x", "y"]]
)
def test_sav_cases_equal_pyreadstat(ids, tmp_path):
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame({"ID": np.array(ids * (n // len(ids)), dtype=object)})
    for j in range(5):
        v = rng.normal(10, 3, n).round(1)
        v[rng.random(n) < 0.1] = np.nan
        frame[f"V{j}"] = v
    frame["V0"] = np.where(np.isnan(frame["V0"]), -9.0, frame["V0"])
    meta = dict(
        file_label="test",
        column_labels={"ID": "Patient ID", "V0": "zero"},
        variable_value_labels={"V0": {-9.0: "not sampled"}},
        missing_ranges={"V0": [-9.0]},
        variable_measure={"ID": "nominal"},
    )
    spss_wide.write_sav_cases(frame, tmp_path / "fast.sav", **meta)
    pyreadstat.write_sav(frame, str(tmp_path / "ref.sav"), **meta)
    fast, ref = (tmp_path / "fast.sav").read_bytes(), (tmp_path / "ref.sav").read_bytes()
    # ReadStat stamps the write time into the header (bytes 92-109)
    assert fast[:92] + fast[109:] == ref[:92] + ref[109:]


@pytest.mark.slow  # a template search of its own
def test_cached_template_is_the_search_result():
    """``generate_cohort`` shares one template search per seed; the search itself stays
    deterministic (a fresh search gives the cached template)."""
    from ketamine_bzd.synthetic import DEFAULT_SEED, cached_template, make_template

    fresh, cached = make_template(DEFAULT_SEED), cached_template(DEFAULT_SEED)
    pd.testing.assert_frame_equal(fresh.patients, cached.patients)
    for name in ("madrs", "bdi", "bai"):
        np.testing.assert_array_equal(getattr(fresh, name), getattr(cached, name))
    assert fresh.regular == cached.regular and fresh.as_needed == cached.as_needed
