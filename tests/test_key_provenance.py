"""Issue 8, findings 1, 5, 6 (duplicate studies, soft problems): the pseudonymization key is
created atomically and identified by a fingerprint; records shared between studies are found;
soft problems are counted for QC."""

import multiprocessing as mp
import os
import secrets
import time
from types import SimpleNamespace

import pandas as pd
import pytest

from ketamine_bzd import pseudonym
from ketamine_bzd.checksum import file_sha256
from ketamine_bzd.formats import FORMATS
from ketamine_bzd.io import read_parquet_metadata, read_study_tables, write_study_tables
from ketamine_bzd.provenance import (
    KEY_FINGERPRINT_METADATA,
    check_one_key,
    resolve_shared_records,
)
from ketamine_bzd.pseudonym import KEY_ENV, KeyFileError, check_key_path, key_fingerprint, load_key
from ketamine_bzd.soft_problems import count_soft_problems, summary_line
from ketamine_bzd.synthetic import generate_cohort

N_RACERS = 16


def _slow_token_hex(nbytes):
    # widens the window between "a process decides to create the key" and "the key is on
    # disk" (a loaded machine, a network file system): no process may see a partial key
    time.sleep(0.2)
    return secrets.token_hex(nbytes)


def _race(path, barrier, queue):
    os.environ.pop(KEY_ENV, None)
    pseudonym.secrets = SimpleNamespace(token_hex=_slow_token_hex)
    barrier.wait()  # all start together, as the two ingest jobs of a first run did
    try:
        queue.put(load_key(path).decode())
    except Exception as exc:  # reported to the parent, which fails the test with it
        queue.put(f"ERROR {exc}")


def test_processes_racing_on_a_fresh_key_path_all_get_the_same_key(tmp_path):
    ctx = mp.get_context("fork")
    path = tmp_path / "keys" / ".ketamine_bzd_key"
    barrier, queue = ctx.Barrier(N_RACERS), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(path, barrier, queue)) for _ in range(N_RACERS)]
    for p in procs:
        p.start()
    keys = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert not [k for k in keys if k.startswith("ERROR")], keys
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert path.read_text() == keys[0]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind


def test_fingerprint_identifies_the_key_without_revealing_it():
    a = key_fingerprint(b"k1")
    assert a == key_fingerprint(b"k1") and a != key_fingerprint(b"k2")
    assert len(a) == 16 and int(a, 16) >= 0
    assert "k1" not in a


@pytest.mark.parametrize("inside", ["results/key", "results", "./results/../results/sub/k"])
def test_key_file_inside_results_is_refused(tmp_path, monkeypatch, inside):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeyFileError, match="inside results/"):
        load_key(inside)
    assert not (tmp_path / "results").exists()
    check_key_path("secrets/key")  # outside: fine
    check_key_path("results_old/key")


def test_empty_key_file_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "key"
    path.write_text("")
    with pytest.raises(KeyFileError, match="is empty; restore the key"):
        load_key(path)


def test_pseudonym_module_is_stdlib_only():
    """The Snakefile loads pseudonym.py and checksum.py by path at parse time."""
    import ast

    for module in (pseudonym.__file__, pseudonym.__file__.replace("pseudonym.py", "checksum.py")):
        tree = ast.parse(open(module).read())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {
            n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
        }
        assert names <= {"__future__", "hashlib", "hmac", "os", "secrets", "tempfile", "pathlib"}, names


# ----------------------------------------------------------------------------- key per study


def test_cohort_refuses_studies_pseudonymized_with_different_keys():
    assert check_one_key({"ket2009": "ab" * 8, "ket2013": "ab" * 8}) == "ab" * 8
    with pytest.raises(ValueError, match=r"different keys .*ket2009: 1111.*ket2013: 2222.*--forcerun ingest"):
        check_one_key({"ket2009": "1111" * 4, "ket2013": "2222" * 4})
    with pytest.raises(ValueError, match="ket2013 records no pseudonymization key fingerprint"):
        check_one_key({"ket2009": "1111" * 4, "ket2013": None})


@pytest.fixture(scope="module")
def truth():
    return generate_cohort(47, 20200819)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, truth):
    """ket2009 (spss_wide) read from its synthetic export: StudyTables and the files."""
    base = tmp_path_factory.mktemp("exports")
    files = FORMATS["spss_wide"].write(truth["ket2009"], base / "ket2009")
    return files, FORMATS["spss_wide"].read("ket2009", files, b"k")


def test_fingerprint_is_stored_in_every_ingested_parquet(ingested, tmp_path):
    _, result = ingested
    paths = {n: tmp_path / f"{n}.parquet" for n in ("subjects", "ratings", "medication")}
    write_study_tables(result.tables, paths, {KEY_FINGERPRINT_METADATA: key_fingerprint(b"k")})
    for p in paths.values():
        assert read_parquet_metadata(p, KEY_FINGERPRINT_METADATA) == key_fingerprint(b"k")
    back = read_study_tables("ket2009", *paths.values())
    pd.testing.assert_frame_equal(back.subjects, result.tables.subjects)


def test_checksum_is_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"abc")
    # FIPS 180-2, appendix B.1: SHA-256("abc"); a small chunk size exercises the loop
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert file_sha256(path) == expected and file_sha256(path, chunk=2) == expected


# ----------------------------------------------------------------------------- shared records


def test_the_same_export_configured_twice_is_an_error_naming_both_studies(ingested):
    files, _ = ingested
    a = FORMATS["spss_wide"].read("ket2009", files, b"k").tables
    b = FORMATS["spss_wide"].read("ket2021", files, b"k").tables
    assert set(a.subjects["patient_id"]).isdisjoint(b.subjects["patient_id"])  # pseudonyms differ
    with pytest.raises(ValueError, match=r"20 of study ket2021 also in study ket2009.*overlapping_studies"):
        resolve_shared_records([a, b])
    # declared overlapping: each shared record counted once, in the first study
    kept, dropped = resolve_shared_records([a, b], [["ket2009", "ket2021"]])
    assert len(dropped) == 20 and set(dropped["study"]) == {"ket2021"}
    assert len(kept[0].subjects) == 20 and kept[1].subjects.empty and kept[1].ratings.empty
    # another group does not cover this pair
    with pytest.raises(ValueError, match="also in study"):
        resolve_shared_records([a, b], [["ket2009", "ket2013"]])


def test_distinct_studies_share_no_records(tmp_path, truth):
    tables = []
    for study, fmt in (("ket2009", "spss_wide"), ("ket2013", "ecrf_cz")):
        files = FORMATS[fmt].write(truth[study], tmp_path / study)
        tables.append(FORMATS[fmt].read(study, files, b"k").tables)
    kept, dropped = resolve_shared_records(tables)
    assert dropped.empty and [len(t.subjects) for t in kept] == [20, 27]


def test_one_changed_value_makes_a_different_record(ingested):
    files, _ = ingested
    a = FORMATS["spss_wide"].read("ket2009", files, b"k").tables
    b = FORMATS["spss_wide"].read("ket2021", files, b"k").tables
    b.subjects.loc[b.subjects.index[0], "age_years"] += 1
    with pytest.raises(ValueError, match="19 of study ket2021"):
        resolve_shared_records([a, b])


# ----------------------------------------------------------------------------- soft problems


def test_soft_problems_are_counted_by_kind_with_an_example_location():
    warnings = [
        "/data/x/hodnoceni.csv row 12: visit 24h dated study day -1, nominal day 1",
        "/data/x/hodnoceni.csv row 40: visit 7d dated study day 11, nominal day 7",
        "/data/x/preskripce.csv row 3: prescription days -9..2 clipped to the study period -7..7",
        "something without a location",
    ]
    t = count_soft_problems("ket2013", warnings)
    assert list(t.columns) == ["kind", "study", "count", "example"]
    rows = {k.split(" (")[0]: (n, ex) for k, n, ex in zip(t["kind"], t["count"], t["example"])}
    assert rows["off-schedule visit"] == (2, "hodnoceni.csv row 12")
    assert rows["prescription clipped to the study period"] == (1, "preskripce.csv row 3")
    assert rows["other"] == (1, "something without a location")
    line = summary_line("ket2013", t)
    assert line.startswith("ingest ket2013: 4 soft problem(s)") and "\n" not in line
    assert summary_line("ket2009", count_soft_problems("ket2009", [])) == "ingest ket2009: no soft problems"


@pytest.mark.parametrize(("shift", "flagged"), [(-1, False), (-2, True), (-5, True), (2, False), (3, True)])
def test_a_24h_rating_dated_before_the_infusion_is_an_off_schedule_visit(tmp_path, truth, shift, flagged):
    """issue 8, finding 6: the 24 h visit (nominal day 1) dated on day -1 is within 2 days of its
    nominal day but before the infusion; it is flagged as well as one more than 2 days off."""
    import datetime as dt
    import re

    files = FORMATS["ecrf_cz"].write(truth["ket2013"], tmp_path / "ket2013")
    path = files["ratings"]
    text = path.read_text(encoding="cp1250")
    m = re.search(r";D1;(\d\d\.\d\d\.\d{4});MADRS;", text)
    date = dt.datetime.strptime(m[1], "%d.%m.%Y") + dt.timedelta(days=shift)
    path.write_text(text[: m.start(1)] + date.strftime("%d.%m.%Y") + text[m.end(1) :], encoding="cp1250")
    row = text[: m.start()].count("\n")
    warnings = FORMATS["ecrf_cz"].read("ket2013", files, b"k").warnings
    problems = count_soft_problems("ket2013", warnings)
    if flagged:
        assert problems["count"].tolist() == [1] and problems["example"].tolist() == [
            f"hodnoceni.csv row {row}"
        ]
    else:
        assert problems.empty, warnings
