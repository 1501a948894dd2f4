"""The code digest that reruns workflow rules when the package code they run changes."""

import shutil
from pathlib import Path

import pytest

from ketamine_bzd.codehash import code_hash, modules_run

PACKAGE = Path(__file__).resolve().parents[1] / "src/ketamine_bzd"


@pytest.fixture
def package(tmp_path):
    root = tmp_path / "ketamine_bzd"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__", "resources"))
    return root


def names(root, *modules):
    return {p.relative_to(root).as_posix() for p in modules_run(root, modules)}


def test_a_rule_depends_on_what_its_modules_import_transitively(package):
    cohort = names(package, "cohort")
    # cohort imports definitions and equivalents; every import runs the package's __init__
    assert {"__init__.py", "cohort.py", "definitions.py", "equivalents.py", "canonical.py"} <= cohort
    assert "multiverse/engine.py" not in cohort and "formats/common.py" not in cohort
    # a subpackage stands for all its modules; absolute imports of the package count too
    formats = names(package, "formats")
    assert {"formats/__init__.py", "formats/common.py", "pseudonym.py", "shipped.py"} <= formats


def test_comments_and_layout_do_not_change_the_digest_code_does(package):
    before = code_hash(package, ["cohort"])
    target = package / "definitions.py"  # imported by cohort.py
    text = target.read_text()
    target.write_text("# a comment\n" + text.replace("\n\n\n", "\n\n\n\n") + "\n# another\n")
    assert code_hash(package, ["cohort"]) == before
    target.write_text(text + "\nCHANGED = 1\n")
    assert code_hash(package, ["cohort"]) != before
    assert code_hash(package, ["formats"]) == code_hash(PACKAGE, ["formats"])  # not imported there


def test_the_digest_does_not_depend_on_where_the_package_is(package):
    assert code_hash(package, ["analysis", "multiverse"]) == code_hash(PACKAGE, ["analysis", "multiverse"])


def test_an_unknown_module_is_an_error(package):
    with pytest.raises(FileNotFoundError, match="no module ketamine_bzd.nonexistent"):
        code_hash(package, ["nonexistent"])
