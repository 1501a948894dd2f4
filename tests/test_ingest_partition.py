"""Partitioned ingest (issue 10): reading an export partition by partition gives, put
together, exactly the unpartitioned read; the column-wise helpers add floats exactly as the
record-by-record reader did."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from format_example import example_truth

from ketamine_bzd.formats import FORMATS, column_reading
from ketamine_bzd.partition import partition_of
from ketamine_bzd.pseudonym import pseudonymize, pseudonymize_many

KEY = b"test-key"
STUDY_FORMAT = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
# partitions per study: with the test key each holds one of the example's three patients
K = {"ket2009": 3, "ket2013": 3}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def _add_soft_problems(fmt, files):
    """A blank record and a record of an unknown patient (quarantined, so the report's
    quarantine counts are exercised too) and a prescription clipped to the study period."""
    if fmt == "ecrf_cz":
        path, lines = files["prn"], ["", "999;Neurol 0,5 mg;12.03.2014;1"]
        path.write_bytes(path.read_bytes() + "".join(f"{x}\r\n" for x in lines).encode("cp1250"))
        path = files["prescriptions"]
        path.write_bytes(path.read_bytes() + b"101;Neurol 0,5 mg;01.03.2014;05.03.2014;1\r\n")
    else:
        path = files["medication"]
        path.write_bytes(path.read_bytes() + b"\n999,0,diazepam,5,0\n")


@pytest.mark.parametrize("study", sorted(STUDY_FORMAT))
def test_partitions_add_up_to_the_whole(study, tmp_path):
    module = FORMATS[STUDY_FORMAT[study]]
    files = module.write(example_truth(study), tmp_path)
    _add_soft_problems(STUDY_FORMAT[study], files)
    whole = module.read(study, files, KEY)
    k = K[study]
    parts = [module.read(study, files, KEY, partition=(i, k)) for i in range(k)]

    for i, part in enumerate(parts):
        pids = part.tables.subjects["patient_id"].tolist()
        assert (partition_of(pids, k) == i).all()
        assert set(part.tables.ratings["patient_id"]) <= set(pids)
        assert set(part.tables.medication["patient_id"]) <= set(pids)
    assert [len(p.tables.subjects) for p in parts] == [1] * k  # really split

    for name in ("subjects", "ratings", "medication"):
        together = pd.concat([getattr(p.tables, name) for p in parts], ignore_index=True)
        pd.testing.assert_frame_equal(_sorted(together), _sorted(getattr(whole.tables, name)), obj=name)
    quarantine = pd.concat([p.quarantine for p in parts if len(p.quarantine)], ignore_index=True)
    assert len(whole.quarantine) == 2

    # (a partition's quarantine of only blank lines has an all-None column: object dtype)
    def records(frame):
        return sorted(tuple(None if pd.isna(v) else v for v in r) for r in frame.itertuples(index=False))

    assert records(quarantine) == records(whole.quarantine)
    assert sorted(w for p in parts for w in p.warnings) == sorted(whole.warnings)
    assert whole.warnings or study == "ket2009"
    report = (
        pd.concat([p.report for p in parts])
        .groupby("file", sort=False)[["rows_read", "rows_accepted", "rows_quarantined"]]
        .sum()
    )
    pd.testing.assert_frame_equal(
        report.reset_index(), whole.report.drop(columns="study").reset_index(drop=True)
    )


def test_partition_must_be_in_range(tmp_path):
    module = FORMATS["ecrf_cz"]
    files = module.write(example_truth("ket2013"), tmp_path)
    with pytest.raises(ValueError, match="partition index 3 outside 0..2"):
        module.read("ket2013", files, KEY, partition=(3, 3))


def test_running_totals_add_left_to_right_like_a_dict():
    rng = np.random.default_rng(7)
    key = rng.integers(0, 50, 2000)
    values = rng.choice([0.1, 0.2, 0.3, 1 / 3, 0.7, 2.5], 2000)
    order, first = column_reading.sorted_groups(key)
    got = np.empty(len(key))
    got[order] = column_reading.running_totals(order, first, values)
    totals: dict = {}
    want = []
    for k, v in zip(key.tolist(), values.tolist()):
        totals[k] = totals.get(k, 0.0) + v
        want.append(totals[k])
    assert got.tolist() == want  # bit for bit, not approximately


def test_pseudonymize_many_equals_pseudonymize():
    ids = ["101", "K09-001", "Číslo", " x ", ""]
    for key in (KEY, b"k" * 64, b"long key " * 20):  # short, one block, hashed first
        assert pseudonymize_many("s", ids, key) == [pseudonymize("s", i, key) for i in ids]
