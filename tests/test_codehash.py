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


def test_the_cache_between_processes_serves_only_the_files_it_was_made_from(package):
    """Each module's digest and imports are kept in the package's __pycache__ (a Snakemake parse
    hashes every module again otherwise); an entry counts only for the bytes it was made from,
    and a missing, corrupt or unwritable cache changes nothing but the time."""
    import json

    import ketamine_bzd.codehash as ch

    expected = code_hash(package, ["cohort"])
    cache_file = package / ch.CACHE_FILE
    stored = json.loads(cache_file.read_text())
    assert "cohort.py" in stored and "multiverse/engine.py" not in stored
    # a forged entry for other bytes is not used: the file is hashed again
    stored["definitions.py"][1] = "0" * 64
    stored["cohort.py"][0] = "f" * 64
    cache_file.write_text(json.dumps(stored))
    ch._stored.cache_clear()
    ch._facts.cache_clear()
    target = package / "definitions.py"
    target.write_text(target.read_text() + "\n# an edit of layout only\n")
    assert code_hash(package, ["cohort"]) == expected
    # a forged entry for the very bytes of a file is used: the cache is read
    stored = json.loads(cache_file.read_text())
    stored["definitions.py"][1] = "0" * 64
    cache_file.write_text(json.dumps(stored))
    ch._stored.cache_clear()
    ch._facts.cache_clear()
    assert code_hash(package, ["cohort"]) != expected
    # corrupt, then unwritable: same digest as without any cache
    cache_file.write_text("{not json")
    ch._stored.cache_clear()
    ch._facts.cache_clear()
    assert code_hash(package, ["cohort"]) == expected
    # a folder that cannot hold the cache (a file in its place; chmod does not stop root)
    shutil.rmtree(cache_file.parent)
    cache_file.parent.write_text("not a folder")
    ch._stored.cache_clear()
    ch._facts.cache_clear()
    assert code_hash(package, ["cohort"]) == expected
    assert cache_file.parent.read_text() == "not a folder"
