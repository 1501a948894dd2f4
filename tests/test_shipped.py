"""Which copy of a resource table the package reads: the rule's input, else its shipped copy."""

from pathlib import Path

from ketamine_bzd.formats import common
from ketamine_bzd.shipped import resource_path, shipped_path, use_resources

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_copy_is_the_repository_resources():
    # src/ketamine_bzd/resources links to resources/ (the wheel carries a copy: test_deploy.py)
    assert shipped_path("drugs.csv").read_bytes() == (REPO / "resources/drugs.csv").read_bytes()
    assert resource_path("equivalents/diazepam_paper.csv") == shipped_path("equivalents/diazepam_paper.csv")


def test_a_table_passed_in_is_the_one_read_and_only_inside_the_block(tmp_path):
    shipped = common.load_drugs()
    mine = tmp_path / "my_drugs.csv"
    mine.write_text("drug,drug_class,atc_code\nclonazepam,bzd,N03AE01\nnewdrugum,ad,\n")
    with use_resources({"drugs.csv": mine}):
        assert common.drugs_path() == mine
        assert common.load_drugs() == {"clonazepam": "bzd", "newdrugum": "ad"}
        with use_resources({"brands_cz.csv": tmp_path / "b.csv"}):  # nested blocks add up
            assert common.drugs_path() == mine and common.brands_path() == tmp_path / "b.csv"
    assert common.drugs_path() == shipped_path("drugs.csv")
    assert common.load_drugs() == shipped
