import pandas as pd
import pytest

from ketamine_bzd.equivalents import MissingEquivalentError, load_table

RES = "resources/equivalents"


def test_paper_table_states_the_papers_ratios():
    t = load_table(f"{RES}/diazepam_paper.csv")
    # 10 mg diazepam = 20 mg oxazepam = 0.75 mg alprazolam or clonazepam (paper, Methods)
    assert t.factor("oxazepam") * 20 == pytest.approx(10)
    assert t.factor("alprazolam") * 0.75 == pytest.approx(10)
    assert t.factor("clonazepam") * 0.75 == pytest.approx(10)
    assert t.factor("diazepam") == 1
    assert "WHO" in t.sources["midazolam"]


def test_ashton_differs_from_paper_for_clonazepam():
    assert load_table(f"{RES}/diazepam_ashton.csv").factor("clonazepam") == pytest.approx(20)


def test_fluoxetine_hayasaka_examples():
    t = load_table(f"{RES}/fluoxetine_hayasaka2015.csv")
    assert t.reference_mg == 40
    assert t.factor("sertraline") * 98.5 == pytest.approx(40)
    assert t.factor("venlafaxine") * 149.4 == pytest.approx(40)
    assert t.factor("fluoxetine") == 1


def test_convert_and_missing_drug_is_an_error_never_zero():
    t = load_table(f"{RES}/diazepam_paper.csv")
    out = t.convert(pd.Series(["clonazepam", "oxazepam"]), pd.Series([1.5, 10.0]))
    assert out.tolist() == pytest.approx([20.0, 5.0])
    with pytest.raises(MissingEquivalentError, match="'lorazepam'.*diazepam_paper"):
        t.convert(pd.Series(["lorazepam"]), pd.Series([1.0]))
    with pytest.raises(MissingEquivalentError, match="citalopram"):
        load_table(f"{RES}/fluoxetine_hayasaka2015.csv").factor("citalopram")


def test_every_row_of_every_table_cites_a_source_and_a_known_drug():
    known = set(pd.read_csv("resources/drugs.csv")["drug"])
    for name in ("diazepam_paper", "diazepam_ashton", "fluoxetine_hayasaka2015"):
        frame = pd.read_csv(f"{RES}/{name}.csv")
        assert frame["source"].str.len().gt(10).all()
        assert set(frame["drug"]) <= known


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "drug,mg_equivalent_to_reference,reference_drug,reference_mg,source\nx,0,diazepam,10,s\n",
            "positive",
        ),
        (
            "drug,mg_equivalent_to_reference,reference_drug,reference_mg,source\nx,1,diazepam,10,s\nx,2,diazepam,10,s\n",
            "twice",
        ),
        ("drug,mg_equivalent_to_reference,reference_drug,reference_mg\nx,1,diazepam,10\n", "missing column"),
        (
            "drug,mg_equivalent_to_reference,reference_drug,reference_mg,source\nx,1,diazepam,10,\n",
            "no source",
        ),
    ],
)
def test_bad_tables_are_rejected(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_table(path)
