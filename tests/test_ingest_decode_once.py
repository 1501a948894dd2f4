"""One ingest job per study (issue 10): ``read_partitions`` decodes each raw file once and gives,
partition by partition, exactly the separate ``read(..., partition=(k, K))`` of each partition
(tables, quarantine, report, warnings); ``ingest_partitions`` does the same for a format that
cannot select partitions (read whole once, then cut)."""

from __future__ import annotations

import pandas as pd
import pytest
from format_example import example_truth
from test_ingest_partition import _add_soft_problems

from ketamine_bzd.checksum import file_sha256
from ketamine_bzd.errors import IngestError
from ketamine_bzd.formats import FORMATS, column_reading
from ketamine_bzd.ingest import ingest_partitions, ingest_study
from ketamine_bzd.pseudonym import KEY_ENV, key_fingerprint

KEY = b"test-key"
STUDY_FORMAT = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}


def _same(a, b):
    for name in ("subjects", "ratings", "medication"):
        pd.testing.assert_frame_equal(getattr(a.tables, name), getattr(b.tables, name), obj=name)
    pd.testing.assert_frame_equal(a.quarantine, b.quarantine)
    pd.testing.assert_frame_equal(a.report, b.report)
    assert a.warnings == b.warnings


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("study", sorted(STUDY_FORMAT))
def test_partitions_of_one_decode_equal_separate_reads(study, k, tmp_path, monkeypatch):
    module = FORMATS[STUDY_FORMAT[study]]
    files = module.write(example_truth(study), tmp_path)
    _add_soft_problems(STUDY_FORMAT[study], files)
    decodes = []
    real = column_reading.read_columns
    monkeypatch.setattr(
        column_reading, "read_columns", lambda *a, **kw: decodes.append(a[1]) or real(*a, **kw)
    )
    once = list(module.read_partitions(study, files, KEY, k))
    n_csv = len(decodes)
    assert n_csv == len(set(decodes))  # each CSV parsed once, whatever K
    separate = [module.read(study, files, KEY, partition=(i, k)) for i in range(k)]
    assert len(decodes) == n_csv * (k + 1)
    assert len(once) == k
    for a, b in zip(once, separate):
        _same(a, b)


def test_the_first_bad_cell_is_still_named(tmp_path):
    module = FORMATS["ecrf_cz"]
    files = module.write(example_truth("ket2013"), tmp_path)
    path = files["ratings"]
    text = path.read_bytes().decode("cp1250").splitlines()
    fields = text[1].split(";")
    fields[-1] = "x9"
    text[1] = ";".join(fields)
    path.write_bytes(("\r\n".join(text) + "\r\n").encode("cp1250"))
    with pytest.raises(IngestError) as separate:
        for i in range(3):
            module.read("ket2013", files, KEY, partition=(i, 3))
    with pytest.raises(IngestError) as once:
        list(module.read_partitions("ket2013", files, KEY, 3))
    assert str(once.value) == str(separate.value)
    assert "row 1" in str(once.value) and "x9" in str(once.value)


@pytest.mark.parametrize("study", sorted(STUDY_FORMAT))
def test_ingest_partitions_equal_ingest_study_per_partition(study, tmp_path, monkeypatch):
    fmt = STUDY_FORMAT[study]
    files = FORMATS[fmt].write(example_truth(study), tmp_path)
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    key_file = tmp_path / "unused.key"
    args = (study, fmt, files, key_file, key_fingerprint(KEY), {r: file_sha256(p) for r, p in files.items()})
    together = list(ingest_partitions(*args, count=3))
    for i, done in enumerate(together):
        alone = ingest_study(*args, partition=(i, 3))
        _same(done.result, alone.result)
        pd.testing.assert_frame_equal(done.report, alone.report)
        pd.testing.assert_frame_equal(done.soft_problems, alone.soft_problems)


def test_a_reader_without_read_partitions_is_read_once_and_cut(tmp_path, monkeypatch):
    """SDTM: one whole read for all partitions, each cut equal to ingest_study's partition."""
    module = FORMATS["sdtm"]
    files = module.write(example_truth("s"), tmp_path / "sdtm")
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    reads = []
    real = module.read
    monkeypatch.setattr(module, "read", lambda *a, **kw: reads.append(kw) or real(*a, **kw))
    args = ("s", "sdtm", files, tmp_path / "unused.key", key_fingerprint(KEY), {})
    together = list(ingest_partitions(*args, count=3))
    assert len(reads) == 1 and len(together) == 3
    whole = ingest_study(*args)
    assert sum(len(d.result.tables.subjects) for d in together) == len(whole.result.tables.subjects)
    for i, done in enumerate(together):
        alone = ingest_study(*args, partition=(i, 3))
        _same(done.result, alone.result)
