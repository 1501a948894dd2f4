"""Issue 8, findings 6-8: plausibility limits as data, whole-number scores, cut-off records,
sniffed encodings and delimiters, capped and withheld values, validated resource tables.

Every test here failed on the code before the fix (commit 446fbcd)."""

from __future__ import annotations

import codecs

import pyreadstat
import pytest
from format_example import example_truth

from ketamine_bzd.equivalents import load_table
from ketamine_bzd.errors import (
    ECHO_MAX_CHARS,
    WITHHELD,
    IngestError,
    Quarantine,
    ResourceError,
)
from ketamine_bzd.formats import common, ecrf_cz, spss_wide

KEY = b"test-key"
RAW_IDS = ("101", "102", "103")


@pytest.fixture
def ecrf(tmp_path):
    return ecrf_cz.write(example_truth("ket2013"), tmp_path)


@pytest.fixture
def spss(tmp_path):
    return spss_wide.write(example_truth("ket2009"), tmp_path)


def read_error(module, files) -> IngestError:
    with pytest.raises(IngestError) as info:
        module.read("s", files, KEY)
    return info.value


def edit(path, old, new, encoding):
    text = path.read_bytes().decode(encoding)
    assert old in text, old
    path.write_bytes(text.replace(old, new, 1).encode(encoding))


def set_sav(path, row, var, value):
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    frame.loc[row - 1, var] = value
    pyreadstat.write_sav(
        frame, str(path), missing_ranges={k: [r["lo"] for r in v] for k, v in meta.missing_ranges.items()}
    )


# ----------------------------------------------------------------------------- finding 6


def test_ecrf_score_with_decimal_is_an_error(ecrf):
    edit(ecrf["ratings"], "BL;11.03.2014;MADRS;30", "BL;11.03.2014;MADRS;23,5", "cp1250")
    err = read_error(ecrf_cz, ecrf)
    assert (err.row, err.column, err.value) == (1, "Celkové skóre", 23.5)
    assert "MADRS score must be a whole number" in str(err)


def test_sav_score_with_decimal_is_an_error(spss):
    set_sav(spss["patients"], 2, "MADRS_D1", 18.5)
    err = read_error(spss_wide, spss)
    assert (err.row, err.column, err.value) == (2, "MADRS_D1", 18.5)
    assert "whole number" in str(err)


def test_spss_dose_above_plausible_maximum(spss):
    edit(spss["medication"], "101,-7,clonazepam,1,0", "101,-7,clonazepam,10000,0", "utf-8")
    err = read_error(spss_wide, spss)
    assert (err.row, err.column, err.value) == (1, "DOSE_MG", "10000")
    assert "above the maximum plausible daily dose 40 mg" in str(err)
    assert "label maximum 20 mg" in str(err) and "max_daily_doses.csv" in str(err)


def test_spss_daily_total_regular_plus_as_needed_above_maximum(spss):
    edit(spss["medication"], "101,-7,clonazepam,1,0", "101,-7,clonazepam,30,0", "utf-8")
    path = spss["medication"]
    path.write_bytes(path.read_bytes() + b"101,-7,clonazepam,15,1\n")
    n = len(path.read_bytes().splitlines()) - 1
    err = read_error(spss_wide, spss)
    assert (err.row, err.column) == (n, "DOSE_MG")
    assert "daily total on study day -7, of 45 mg of clonazepam" in str(err)


def test_ecrf_overlapping_prescriptions_above_maximum(ecrf):
    # 20 tablets of Rivotril 2 mg (40 mg, the plausible maximum) plus the 1 mg already there
    path = ecrf["prescriptions"]
    path.write_bytes(path.read_bytes() + "101;Rivotril 2 mg;05.03.2014;06.03.2014;20\r\n".encode("cp1250"))
    n = len(path.read_bytes().splitlines()) - 1
    err = read_error(ecrf_cz, ecrf)
    assert (err.file, err.row, err.column) == (str(path), n, "Tablet denně")
    assert "daily total on study day -7, of 41 mg of clonazepam" in str(err)


@pytest.mark.parametrize("fmt", ["ecrf", "spss"])
def test_last_record_cut_off_is_an_error(fmt, ecrf, spss):
    module, files, role, col = {
        "ecrf": (ecrf_cz, ecrf, "ratings", "Celkové skóre"),
        "spss": (spss_wide, spss, "medication", "PRN"),
    }[fmt]
    path = files[role]
    data = path.read_bytes().rstrip(b"\r\n")
    path.write_bytes(data)  # cut after the last field's first character would look the same
    n = len(data.splitlines()) - 1
    err = read_error(module, files)
    assert (err.file, err.row, err.column) == (str(path), n, col)
    assert "does not end with a line terminator" in str(err)


def test_resource_tables_cover_every_drug_with_a_source():
    limits = common.load_dose_limits()
    assert set(limits) == set(common.load_drugs())
    assert all(hi == 2 * label for hi, label in limits.values())
    assert limits["clonazepam"] == (40.0, 20.0)


# ----------------------------------------------------------------------------- finding 7


def test_id_in_a_score_column_is_withheld(ecrf):
    # a column swap: the patient's ID lands in the score field
    edit(ecrf["ratings"], "BL;11.03.2014;MADRS;30", "BL;11.03.2014;MADRS;101", "cp1250")
    err = read_error(ecrf_cz, ecrf)
    assert WITHHELD in str(err) and err.value is None
    assert not any(i in str(err) for i in RAW_IDS)


def test_id_in_a_dose_column_is_withheld(spss):
    edit(spss["medication"], "101,-7,clonazepam,1,0", "101,-7,clonazepam,103,0", "utf-8")
    err = read_error(spss_wide, spss)
    assert err.column == "DOSE_MG" and WITHHELD in str(err)
    assert "103" not in str(err).replace(str(spss["medication"]), "")


def test_id_in_a_day_column_is_withheld_in_quarantine(spss):
    edit(spss["medication"], "101,-7,clonazepam", "101,102,clonazepam", "utf-8")
    q = spss_wide.read("s", spss, KEY).quarantine
    assert q["value"].tolist() == [WITHHELD]
    assert "outside the study period" in q["reason"].item()


def test_id_shaped_value_is_withheld_even_if_unknown(spss):
    edit(spss["medication"], "101,-7,clonazepam,1,0", "101,-7,K09-017,1,0", "utf-8")
    err = read_error(spss_wide, spss)
    assert err.column == "DRUG" and WITHHELD in str(err) and "K09-017" not in str(err)


def test_id_in_a_sav_numeric_variable_is_withheld(spss):
    frame, _ = pyreadstat.read_sav(str(spss["patients"]), user_missing=True)
    frame["AGE"] = frame["ID"]  # swapped: a string variable where a number belongs
    pyreadstat.write_sav(frame, str(spss["patients"]))
    err = read_error(spss_wide, spss)
    assert err.column == "AGE" and WITHHELD in str(err)
    assert not any(i in str(err) for i in RAW_IDS)


# ----------------------------------------------------------------------------- finding 8


@pytest.mark.parametrize("fmt", ["ecrf", "spss"])
def test_utf16_file_is_named_as_such(fmt, ecrf, spss):
    module, files, role, enc = {
        "ecrf": (ecrf_cz, ecrf, "patients", "cp1250"),
        "spss": (spss_wide, spss, "medication", "utf-8"),
    }[fmt]
    path = files[role]
    path.write_bytes(path.read_bytes().decode(enc).encode("utf-16"))
    err = read_error(module, files)
    assert "file is UTF-16 encoded" in str(err) and "missing column" not in str(err)


def test_utf16_without_bom_is_named_as_such(ecrf):
    path = ecrf["prn"]
    path.write_bytes(path.read_bytes().decode("cp1250").encode("utf-16-le"))
    assert "looks UTF-16 encoded" in str(read_error(ecrf_cz, ecrf))


@pytest.mark.parametrize("fmt, sep, found", [("ecrf", ";", ","), ("spss", ",", ";"), ("ecrf", ";", "\t")])
def test_wrong_delimiter_is_named(fmt, sep, found, ecrf, spss):
    module, files, role, enc = {
        "ecrf": (ecrf_cz, ecrf, "prn", "cp1250"),
        "spss": (spss_wide, spss, "medication", "utf-8"),
    }[fmt]
    path = files[role]
    text = path.read_bytes().decode(enc)
    if fmt == "ecrf":  # a comma-separated re-save quotes the decimal commas
        text = text.replace("0,5", '"0,5"') if found == "," else text
    path.write_bytes(text.replace(sep, found).encode(enc))
    err = read_error(module, files)
    assert f"delimiter looks like {found!r}" in str(err) and err.row == 0
    assert "missing column" not in str(err)


@pytest.mark.parametrize("magic, kind", [(b"PK\x03\x04", "zip archive"), (b"\x00\x01\x02", "NUL bytes")])
def test_binary_file_gives_a_short_reason(magic, kind, ecrf):
    path = ecrf["ratings"]
    path.write_bytes(magic + bytes(range(256)) * 5)
    msg = str(read_error(ecrf_cz, ecrf))
    assert kind in msg and len(msg) < 300 + len(str(path))
    assert "\ufffd" not in msg


def test_binary_instead_of_sav_gives_a_short_reason(spss):
    spss["patients"].write_bytes(b"PK\x03\x04" + bytes(range(256)) * 5)
    msg = str(read_error(spss_wide, spss))
    assert "not a readable SPSS .sav file" in msg and "zip archive" in msg and len(msg) < 400


def test_long_value_is_capped_with_its_length(ecrf):
    edit(ecrf["prn"], "Neurol 0,5 mg", "x" * 100_000, "cp1250")
    err = read_error(ecrf_cz, ecrf)
    msg = str(err)
    assert "100000 characters, first 80 shown" in msg and "x" * ECHO_MAX_CHARS in msg
    assert len(msg) < 400 + len(str(ecrf["prn"]))


@pytest.mark.parametrize("fmt", ["ecrf", "spss"])
def test_patients_file_with_header_only(fmt, ecrf, spss, tmp_path):
    if fmt == "ecrf":
        path = ecrf["patients"]
        path.write_bytes(path.read_bytes().split(b"\r\n")[0] + b"\r\n")
        module, files = ecrf_cz, ecrf
    else:
        frame, _ = pyreadstat.read_sav(str(spss["patients"]), user_missing=True)
        pyreadstat.write_sav(frame.iloc[:0], str(spss["patients"]))
        module, files = spss_wide, spss
    err = read_error(module, files)
    assert err.file == str(files["patients"])
    assert "no patient records: the file has " in str(err)
    assert ("a header only" if fmt == "ecrf" else "a dictionary but no cases") in str(err)


EQ_HEADER = "drug,mg_equivalent_to_reference,reference_drug,reference_mg,source\n"


@pytest.mark.parametrize(
    "content, row, column, match",
    [
        (EQ_HEADER + 'x,1,diazepam,10,"unclosed\n', 1, None, "malformed record"),
        (EQ_HEADER + "x,1,diazepam,10,a source,extra\n", 1, None, "6 fields but the header has 5"),
        (EQ_HEADER + "x,1,diazepam,10,s\ny,abc,diazepam,10,s\n", 2, "mg_equivalent_to_reference", "positive"),
        (EQ_HEADER.replace(",", ";") + "x;1;diazepam;10;s\n", 0, "drug", "delimiter must be ','"),
    ],
)
def test_malformed_equivalence_table_names_file_row_column(tmp_path, content, row, column, match):
    path = tmp_path / "table.csv"
    path.write_text(content)
    with pytest.raises(ResourceError, match=match) as info:
        load_table(path)
    assert info.value.file == str(path) and str(path) in str(info.value)
    assert (info.value.row, info.value.column) == (row, column)


def test_malformed_drug_and_brand_tables(tmp_path):
    drugs = tmp_path / "drugs.csv"
    drugs.write_text("drug,drug_class,atc_code\nclonazepam,bzd,N03AE01\nsertraline,antidep,N06AB06\n")
    with pytest.raises(ResourceError, match="must be one of bzd, ad") as info:
        common.load_drugs(drugs)
    assert (info.value.row, info.value.column, info.value.value) == (2, "drug_class", "antidep")
    brands = tmp_path / "brands.csv"
    brands.write_text('brand,drug,strength_mg,form,source\n"Rivotril 2 mg",clonazepam,2 mg,tablet,SUKL\n')
    with pytest.raises(ResourceError, match="positive number") as info:
        common.load_brands(brands)
    assert (info.value.row, info.value.column) == (1, "strength_mg")
    brands.write_text('brand,drug,strength_mg,form,source\n"Xyz 2 mg",xyzepam,2,tablet,SUKL\n')
    with pytest.raises(ResourceError, match="drug missing from resources/drugs.csv"):
        common.load_brands(brands)


def test_capped_and_withheld_quarantine_values():
    q = Quarantine("s")
    q.add("f.csv", 1, "Datum podání", "K13-0042", "r")
    q.add("f.csv", 2, "Datum podání", "9" * 500, "r")
    q.add("f.csv", 3, "Číslo pacienta", "P0123456789abcdef", "patient not in the patients file")
    values = q.frame()["value"].tolist()
    assert values[0] == WITHHELD
    assert values[1] == "9" * ECHO_MAX_CHARS + "… (500 characters)"
    assert values[2] == "P0123456789abcdef"  # our pseudonyms are shown


def test_bom_constants_cover_utf16_both_orders():
    for bom in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        assert common.sniff_binary(bom + b"a\x00b\x00") == "file is UTF-16 encoded (byte-order mark)"


def test_quarantine_frame_with_blank_and_identifier_values():
    """Found by the fuzzer: a blank-line record (value None) next to a withheld one crashed
    the identifier check with a TypeError."""
    q = Quarantine("s", identifiers={"101"})
    q.add("f.csv", 1, None, None, "blank line")
    q.add("f.csv", 2, "DAY", 101, "study day outside the study period -7..7")
    assert q.frame()["value"].tolist()[1] == WITHHELD


@pytest.mark.parametrize("value", ["K09-001", "13-0042", "PAT0042", "S_123", "k09/17"])
def test_identifier_shapes_are_withheld(value):
    assert WITHHELD in str(IngestError("f.csv", "r", row=1, column="c", value=value))


@pytest.mark.parametrize(
    "value",
    ["D5", "2014-03-12", "12/03/2014", "-7.5", "61", 61.0, "Neurol 10", "Zoloft 100mg", "1,5", "<LLOQ"],
)
def test_ordinary_values_are_shown(value):
    assert f"value {value!r}" in str(IngestError("f.csv", "r", row=1, column="c", value=value))


def test_cp1250_medication_file_is_named_as_such(spss):
    path = spss["medication"]
    path.write_bytes(path.read_bytes() + "101,1,oxazepam Léčiva,10,0\n".encode("cp1250"))
    assert "the file looks cp1250 (Windows-1250) or Latin-1 encoded" in str(read_error(spss_wide, spss))
