"""The ``sdtm`` format: round trips, the SDTM-specific hard errors, quarantine and the rules
for day 0, visits, QS totals, CM doses/frequencies/partial dates (docs/data-contract.md, section 6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from format_example import canonical_order, example_truth, expected_read
from test_formats_roundtrip import assert_tables_equal

from ketamine_bzd.canonical import VISIT_STUDY_DAY
from ketamine_bzd.errors import IngestError
from ketamine_bzd.formats import FORMATS, sdtm

KEY = b"test-key"


@pytest.fixture
def files(tmp_path):
    return sdtm.write(example_truth("s"), tmp_path / "sdtm")


def load(path) -> pd.DataFrame:
    return pyreadstat.read_xport(str(path))[0]


def save(frame, path):
    sdtm.write_xpt(frame, path, path.stem.upper())


def edit(files, role, change):
    """Apply ``change(frame)`` (in place or returning a frame) to one domain; return its path."""
    frame = load(files[role])
    out = change(frame)
    save(frame if out is None else out, files[role])
    return files[role]


def read(files, **options):
    return sdtm.read("s", files, KEY, options)


def raises(files, match, **options) -> IngestError:
    with pytest.raises(IngestError, match=match) as info:
        read(files, **options)
    return info.value


def reconciles(result):
    r = result.report
    assert (r.rows_read == r.rows_accepted + r.rows_quarantined).all()
    assert r.rows_quarantined.sum() == len(result.quarantine)


# ----------------------------------------------------------------------------- round trips


@pytest.fixture(scope="module")
def thirty():
    """30 synthetic patients (the ket2013 part of a 52-patient cohort; the workflow test's
    third study)."""
    from ketamine_bzd.synthetic import generate_cohort

    return generate_cohort(52, 20200819)["ket2013"]


def test_round_trip_synthetic_cohort(thirty, tmp_path):
    result = sdtm.read("ket2013", sdtm.write(thirty, tmp_path), KEY)
    assert_tables_equal(result.tables, expected_read(thirty, KEY, "ket2013"))
    assert result.quarantine.empty and result.warnings == []
    assert len(result.tables.subjects) == 30


def test_same_patients_as_ecrf_cz_and_as_sdtm_give_identical_canonical_tables(thirty, tmp_path):
    ratings = thirty.ratings.copy()
    ratings.loc[(ratings["status"] == "observed") & (ratings["visit"] == "day1"), "study_day"] = 2
    thirty = type(thirty)(thirty.study, thirty.subjects, ratings, thirty.medication)
    via_ecrf = FORMATS["ecrf_cz"].read("t", FORMATS["ecrf_cz"].write(thirty, tmp_path / "e"), KEY)
    via_sdtm = sdtm.read("t", sdtm.write(thirty, tmp_path / "s"), KEY)
    a, b = canonical_order(via_ecrf.tables), canonical_order(via_sdtm.tables)
    for name in ("subjects", "ratings", "medication"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    # the comparison covers what matters: missing visits, off-nominal days, as-needed doses
    assert (a.ratings["status"] == "missing").any() and a.medication["as_needed"].any()
    assert (a.ratings["study_day"] != a.ratings["visit"].map(VISIT_STUDY_DAY)).any()


def test_csv_domains_read_like_xpt(files, tmp_path):
    csv_files = {}
    for role, path in files.items():
        csv_files[role] = tmp_path / f"{role}.csv"
        load(path).to_csv(csv_files[role], index=False)
    assert_tables_equal(read(csv_files).tables, expected_read(example_truth("s"), KEY))


def test_the_four_required_domains_alone_reach_canonical_tables(files):
    result = read({r: files[r] for r in sdtm.REQUIRED_ROLES})
    subj = result.tables.subjects
    assert subj["episode"].isna().all() and subj["weight_kg"].isna().all()
    assert (subj[[c for c in subj if c.endswith("_status")]] == "missing").all().all()
    # VISITDY is in QS, so the nominal rule needs no SV; ratings and medication are complete
    want = expected_read(example_truth("s"), KEY)
    got = canonical_order(result.tables)
    pd.testing.assert_frame_equal(got.ratings, want.ratings, check_dtype=False)
    pd.testing.assert_frame_equal(got.medication, want.medication, check_dtype=False)


# ----------------------------------------------------------------------------- hard errors


def test_missing_required_variable(files):
    edit(files, "qs", lambda f: f.drop(columns=["QSSTRESN"]))
    err = raises(files, "missing required variable of QS")
    assert err.file.endswith("qs.xpt") and err.column == "QSSTRESN" and err.row == 0


def test_duplicate_usubjid_in_dm(files):
    edit(files, "dm", lambda f: pd.concat([f, f.iloc[[1]]], ignore_index=True))
    err = raises(files, r"duplicate USUBJID in DM \(same as row 2\)")
    assert (err.row, err.column, err.value) == (4, "USUBJID", None)  # raw id never quoted


def test_qsstresn_disagreeing_with_qsorres(files):
    def change(f):
        f.loc[5, "QSSTRESN"] = f.loc[5, "QSSTRESN"] + 1

    edit(files, "qs", change)
    err = raises(files, "QSSTRESN disagrees with QSORRES")
    assert (err.row, err.column) == (6, "QSSTRESN")


@pytest.mark.parametrize(
    "role,var,value",
    [("qs", "QSDTC", "12/03/2014"), ("cm", "CMSTDTC", "2014-13-01"), ("ex", "EXSTDTC", "yesterday")],
)
def test_unparseable_dtc(files, role, var, value):
    edit(files, role, lambda f: f.__setitem__(var, f[var].where(f.index != 0, value)))
    err = raises(files, "does not parse as ISO 8601")
    assert (err.row, err.column, err.value) == (1, var, value)


def test_cm_record_ending_before_it_starts(files):
    def change(f):
        f.loc[2, "CMENDTC"] = "2000-01-01"

    edit(files, "cm", change)
    err = raises(files, "ends before it starts")
    assert (err.row, err.column, err.value) == (3, "CMENDTC", "2000-01-01")


def test_xpt_that_is_really_a_csv(files):
    load(files["dm"]).to_csv(files["dm"], index=False)
    err = raises(files, r"not a SAS transport \(XPORT\) file: its first bytes are CSV text")
    assert err.file.endswith("dm.xpt")


@pytest.mark.parametrize(
    "var,value,match",
    [
        ("CMDECOD", "ZOLOFTX", "unknown drug"),
        ("CMDOSU", "tablet", "unknown dose unit"),
        ("CMDOSFRQ", "5 TIMES PER MOON", "unparseable frequency"),
    ],
)
def test_unknown_drug_unit_or_frequency(files, var, value, match):
    edit(files, "cm", lambda f: f.__setitem__(var, f[var].where(f.index != 1, value)))
    err = raises(files, match)
    assert (err.row, err.column, err.value) == (2, var, value)


def test_partial_date_cannot_define_day0(files):
    edit(files, "ex", lambda f: f.__setitem__("EXSTDTC", f["EXSTDTC"].str[:7]))
    assert raises(files, "complete start date").column == "EXSTDTC"


# ----------------------------------------------------------------------------- soft problems


def test_other_arms_and_unexposed_patients_are_quarantined_and_reported(files):
    def arms(f):
        f.loc[0, "ARM"] = "PLACEBO"

    edit(files, "dm", arms)
    edit(files, "ex", lambda f: f.drop(index=2))  # third patient never exposed
    result = read(files)
    assert len(result.tables.subjects) == 1
    q = result.quarantine
    dm = q[q["file"].str.endswith("/dm.xpt")]
    assert dm["reason"].str.contains("arm not analysed").sum() == 1
    assert dm["reason"].str.contains("not exposed to the study drug").sum() == 1
    assert any("not exposed" in w for w in result.warnings)
    # their QS and CM records are quarantined, not dropped
    assert q["file"].str.endswith("qs.xpt").sum() > 0 and q["file"].str.endswith("cm.xpt").sum() > 0
    reconciles(result)
    assert not q["value"].isin(["101", "102", "103"]).any()  # pseudonyms only


def test_placebo_exposure_is_not_day0(files):
    extra = load(files["ex"]).iloc[[0]].assign(EXTRT="PLACEBO", EXSTDTC="2014-03-01")
    edit(files, "ex", lambda f: pd.concat([extra, f], ignore_index=True))
    result = read(files)
    assert_tables_equal(result.tables, expected_read(example_truth("s"), KEY))
    assert result.quarantine["reason"].str.contains("not a study drug").sum() == 1
    reconciles(result)


def test_rfstdtc_disagreeing_with_ex_is_warned(files):
    def change(f):
        f.loc[0, "RFSTDTC"] = "2014-03-10"

    edit(files, "dm", change)
    result = read(files)
    assert any("RFSTDTC 2014-03-10 differs" in w and "day 0 is taken from EX" in w for w in result.warnings)


def test_partial_item_set_gives_missing_total_naming_the_items(files):
    qs = load(files["qs"])
    gone = qs.index[(qs["QSTESTCD"].isin(["BAI0103", "BAI0117"])) & (qs["VISITNUM"] == 1)][:2]
    first_patient = qs.loc[gone, "USUBJID"].iloc[0]
    save(qs.drop(index=gone), files["qs"])
    result = read(files)
    bai = result.tables.ratings.query("scale == 'bai' and visit == 'day0'")
    assert bai["score"].isna().sum() == 1
    warning = [w for w in result.warnings if "BAI has no total" in w]
    assert len(warning) == 1 and "BAI0103, BAI0117" in warning[0]
    assert first_patient not in warning[0]


def test_total_record_wins_over_items(files):
    qs = load(files["qs"])
    row = qs[qs["QSCAT"] == "BAI"].iloc[[0]].assign(QSTESTCD="BAI0122", QSORRES="40", QSSTRESN=40.0)
    save(pd.concat([qs, row], ignore_index=True), files["qs"])
    ratings = read(files).tables.ratings
    assert (ratings["score"] == 40).sum() == 1


def test_window_rule_takes_the_nearest_rating(files):
    # a repeated MADRS on day 2 of patient 1 (the nominal day 1 rating stays the nearest)
    qs = load(files["qs"])
    madrs = qs[(qs["QSCAT"] == "MADRS") & (qs["VISITNUM"] == 2)].iloc[[0]]
    day2 = (pd.Timestamp(madrs["QSDTC"].iloc[0]) + pd.Timedelta(days=1)).date().isoformat()
    save(
        pd.concat([qs, madrs.assign(QSDTC=day2, VISITNUM=2.5, QSORRES="5", QSSTRESN=5.0)], ignore_index=True),
        files["qs"],
    )
    with pytest.raises(IngestError):  # nominal: VISITDY is the same, two ratings at one visit
        read(files)
    result = read(files, visit_rule="window")
    assert_tables_equal(result.tables, expected_read(example_truth("s"), KEY))
    q = result.quarantine
    assert list(q["reason"]) == ["not the rating nearest to the nominal day of day1"]
    reconciles(result)


def test_partial_cm_dates_are_imputed_conservatively_and_flagged(files):
    def change(f):
        f.loc[0, "CMSTDTC"] = "2014-02"  # earliest: 2014-02-01, long before day -7
        f.loc[0, "CMENDTC"] = ""

    edit(files, "cm", change)
    result = read(files)
    assert any("partial CMSTDTC 2014-02 imputed as 2014-02-01" in w for w in result.warnings)
    assert any("clipped to the study period" in w for w in result.warnings)


def test_cm_dose_from_cmdostxt_frequency_and_units(files):
    def change(f):
        f["CMDOSTXT"] = ""
        f.loc[0, "CMDOSE"] = np.nan
        f.loc[0, "CMDOSTXT"] = "250"
        f.loc[0, "CMDOSU"] = "ug"  # 0.25 mg
        f.loc[0, "CMDOSFRQ"] = "QID"  # 1 mg/day

    edit(files, "cm", change)
    cm = load(files["cm"]).iloc[0]
    result = read(files)
    med = result.tables.medication
    drug = sdtm.load_cmdecod()[cm["CMDECOD"]]
    assert drug == "clonazepam"
    first = med[(med["drug"] == drug) & ~med["as_needed"]].sort_values(["study_day"])
    assert 1.0 in first["dose_mg"].tolist()


def test_prn_over_several_days_without_total_is_quarantined(files):
    cm = load(files["cm"])
    i = cm.index[cm["CMDOSFRQ"] == "PRN"][0]
    cm.loc[i, "CMENDTC"] = (pd.Timestamp(cm.loc[i, "CMSTDTC"]) + pd.Timedelta(days=2)).date().isoformat()
    save(cm, files["cm"])
    result = read(files)
    assert result.quarantine["reason"].str.contains("PRN over several days").sum() == 1
    reconciles(result)


def test_unknown_option_and_overlapping_windows_are_config_errors(files):
    with pytest.raises(ValueError, match="unknown key"):
        read(files, visit_rul="window")
    with pytest.raises(ValueError, match="overlap"):
        read(files, visit_windows={"day1": [0, 2]})


def test_written_xpt_is_version5_with_a_fixed_stamp(files):
    head = files["dm"].read_bytes()[:640]
    assert head.startswith(sdtm.XPORT_MAGIC + b"RARY HEADER RECORD")
    assert head.count(b"01JAN00:00:00:00") == 4


def test_nominal_rule_takes_visitdy_from_sv_when_qs_has_none(files):
    edit(files, "qs", lambda f: f.drop(columns=["VISITDY"]))
    assert_tables_equal(read(files).tables, expected_read(example_truth("s"), KEY))
    without_sv = {r: p for r, p in files.items() if r != "sv"}
    assert raises(without_sv, "needs VISITDY in QS or an SV file").column == "VISITDY"
    # the window rule needs no planned day at all
    assert_tables_equal(read(without_sv, visit_rule="window").tables, expected_read(example_truth("s"), KEY))


def test_screening_visit_is_quarantined_not_dropped(files):
    qs = load(files["qs"])
    screening = qs[qs["VISITNUM"] == 1].assign(VISITNUM=0.0, VISITDY=-14.0, QSDTC="2014-02-26")
    save(pd.concat([screening, qs], ignore_index=True), files["qs"])
    result = read(files)
    assert result.quarantine["reason"].str.contains("VISITDY -14 is not a visit").sum() == len(screening)
    reconciles(result)


def test_schema_documents_every_option_with_the_code_default():
    from pathlib import Path

    import yaml

    schema = yaml.safe_load((Path(__file__).parents[1] / "schemas/config.schema.yaml").read_text())
    props = schema["properties"]["studies"]["additionalProperties"]["properties"]["options"]["properties"]
    assert set(props) == set(sdtm.Options.__dataclass_fields__)
    assert all(p.get("description") and "default" in p for p in props.values())
    defaults = sdtm.Options()
    from_schema = sdtm.Options.from_config({k: p["default"] for k, p in props.items()})
    assert from_schema == defaults


def test_csv_qs_with_xpt_sv_match_visits_by_number(files, tmp_path):
    qs = load(files["qs"]).drop(columns=["VISITDY"])
    qs["VISITNUM"] = qs["VISITNUM"].map(lambda v: f"{v:.1f}")  # "1.0" as text in the CSV
    files = {**files, "qs": tmp_path / "qs.csv"}
    qs.to_csv(files["qs"], index=False)
    assert_tables_equal(read(files).tables, expected_read(example_truth("s"), KEY))


def test_sdtm_warnings_are_counted_as_their_own_soft_problem_kinds(files):
    from ketamine_bzd.soft_problems import count_soft_problems

    def change(f):
        f.loc[0, "CMSTDTC"] = "2014-02"

    edit(files, "cm", change)
    edit(files, "ex", lambda f: f.drop(index=2))
    kinds = set(count_soft_problems("s", read(files).warnings)["kind"])
    assert "partial medication date imputed (SDTM CM)" in kinds
    assert "subject not exposed to the study drug, not analysed (SDTM)" in kinds
    assert "other" not in kinds


# ----------------------------------------------------------------------------- plausibility
# the limits of the other formats (common.DoseLimits, PK_MAX_NG_ML, whole-number counts/scores)


@pytest.mark.parametrize(
    "dose,unit,match,value",
    [
        (
            10_000.0,
            "mg",
            (
                r"single dose 10000 mg of clonazepam is above the maximum plausible daily "
                r"dose 40 mg \(label maximum 20 mg; resources/max_daily_doses.csv\)"
            ),
            "10000",
        ),
        (10.0, "g", "single dose 10000 mg of clonazepam", "10"),  # g for mg
    ],
)
def test_cm_single_dose_above_the_maximum_plausible_daily_dose(files, dose, unit, match, value):
    def change(f):
        f.loc[0, "CMDOSE"], f.loc[0, "CMDOSU"] = dose, unit

    edit(files, "cm", change)
    err = raises(files, match)
    assert (err.row, err.column, err.value) == (1, "CMDOSE", value)


def test_cm_implausible_dose_is_an_error_even_when_the_record_is_quarantined(files):
    def change(f):
        f.loc[0, "CMDOSE"] = 10_000.0
        f.loc[0, "CMSTDTC"], f.loc[0, "CMENDTC"] = "2000-01-01", "2000-01-02"

    edit(files, "cm", change)
    assert raises(files, "single dose 10000 mg of clonazepam").row == 1


@pytest.mark.parametrize("frequency,daily", [("QID", 60), ("BID", None)])
def test_cm_daily_dose_from_frequency_above_the_maximum(files, frequency, daily):
    def change(f):
        f.loc[0, "CMDOSE"], f.loc[0, "CMDOSFRQ"] = 15.0, frequency  # 60 / 30 mg of max 40

    edit(files, "cm", change)
    if daily is None:
        assert 30.0 in read(files).tables.medication["dose_mg"].tolist()
        return
    err = raises(files, f"daily dose {daily} mg of clonazepam is above the maximum plausible")
    assert (err.row, err.column, err.value) == (1, "CMDOSE", "15")


def test_cm_daily_total_of_regular_and_prn_above_the_maximum_names_the_record(files):
    def change(f):
        prn = f.iloc[[0]].assign(
            CMDOSE=39.5, CMDOSFRQ="PRN", CMSTDTC="2014-03-10", CMENDTC="2014-03-10"
        )  # + 1 mg QD that day = 40.5 mg
        return pd.concat([f, prn], ignore_index=True)

    edit(files, "cm", change)
    err = raises(
        files,
        r"with this record the daily total on study day -?\d+, of 40.5 mg of "
        "clonazepam is above the maximum plausible daily dose 40 mg",
    )
    assert (err.row, err.column, err.value) == (len(load(files["cm"])), "CMDOSE", "39.5")


def test_pc_serum_level_above_the_maximum(files):
    def change(f):
        f.loc[1, "PCORRES"], f.loc[1, "PCSTRESN"] = "60000", 60_000.0

    edit(files, "pc", change)
    err = raises(files, r"serum level \(ng/ml\) outside the allowed range 0..50000")
    assert (err.row, err.column, err.value) == (2, "PCSTRESN", 60_000.0)


def test_fractional_hospitalisation_count_and_scores_are_errors(files, tmp_path):
    edit(files, "suppdm", lambda f: f.__setitem__("QVAL", f["QVAL"].where(f.index != 3, "2.5")))
    err = raises(files, "NHOSP must be a whole number")
    assert (err.row, err.column, err.value) == (4, "QVAL", 2.5)
    edit(files, "suppdm", lambda f: f.__setitem__("QVAL", f["QVAL"].where(f.index != 3, "2")))

    def total(f):
        f.loc[0, "QSORRES"], f.loc[0, "QSSTRESN"] = "30.5", 30.5

    edit(files, "qs", total)
    err = raises(files, "MADRS total score must be a whole number")
    assert (err.row, err.column, err.value) == (1, "QSSTRESN", 30.5)
