"""Fast checks of the local-vs-SLURM comparison used by `make test-cluster`."""

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "compare_results", Path(__file__).with_name("compare_results.py")
)
compare_results = importlib.util.module_from_spec(_spec)
# dataclasses resolve annotations through sys.modules.
sys.modules["compare_results"] = compare_results
_spec.loader.exec_module(compare_results)


def _write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def trees(tmp_path):
    local, slurm = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    slurm.mkdir()
    return local, slurm


def _status(rows):
    return {r.path: r.status for r in rows}


def test_identical_tables_pass(trees):
    local, slurm = trees
    for root in trees:
        _write(root, "tables/a.csv", b"x,y\n1,2\n")
    rows = compare_results.compare_trees(local, slurm)
    assert _status(rows) == {"tables/a.csv": "identical"}
    assert compare_results.main([str(local), str(slurm)]) == 0


def test_table_difference_fails_and_names_line(trees):
    local, slurm = trees
    _write(local, "a.csv", b"x\n1.0\n")
    _write(slurm, "a.csv", b"x\n1.0000001\n")
    (row,) = compare_results.compare_trees(local, slurm)
    assert row.failed and row.status == "differs" and "line 2" in row.detail
    assert compare_results.main([str(local), str(slurm)]) == 1


def test_missing_file_fails(trees):
    local, slurm = trees
    _write(local, "only.txt", b"1")
    _write(slurm, "other.txt", b"1")
    assert _status(compare_results.compare_trees(local, slurm)) == {
        "only.txt": "only_in_local",
        "other.txt": "only_in_slurm",
    }


def test_pdf_dates_are_ignored(trees):
    local, slurm = trees
    _write(local, "f.pdf", b"%PDF /CreationDate (D:20260101) /ID [<aa> <bb>] body")
    _write(slurm, "f.pdf", b"%PDF /CreationDate (D:20270202) /ID [<cc> <dd>] body")
    (row,) = compare_results.compare_trees(local, slurm)
    assert row.status == "same_after_normalising" and not row.failed


def test_png_compared_by_pixels(trees):
    from PIL import Image

    local, slurm = trees
    Image.new("RGB", (4, 4), "red").save(local / "f.png", pnginfo=None)
    img = Image.new("RGB", (4, 4), "red")
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", "another writer")
    img.save(slurm / "f.png", pnginfo=info)
    (row,) = compare_results.compare_trees(local, slurm)
    assert row.status == "same_after_normalising"


def test_figure_size_beyond_tolerance_fails(trees):
    local, slurm = trees
    _write(local, "f.svg", b"<svg>" + b"a" * 100 + b"</svg>")
    _write(slurm, "f.svg", b"<svg>" + b"b" * 300 + b"</svg>")
    (row,) = compare_results.compare_trees(local, slurm)
    assert row.failed


def test_logs_only_need_to_exist(trees):
    local, slurm = trees
    _write(local, "logs/cohort.log", b"started 20:01\n")
    _write(slurm, "logs/cohort.log", b"started 20:07\n")
    _write(local, "qc/run.log", b"a")
    _write(slurm, "qc/run.log", b"b")
    rows = compare_results.compare_trees(local, slurm)
    assert {r.status for r in rows} == {"exists_in_both"}
    _write(local, "logs/extra.log", b"")
    assert compare_results.main([str(local), str(slurm)]) == 1


def test_svg_dates_and_matplotlib_ids_are_ignored(trees):
    local, slurm = trees
    _write(
        local,
        "f.svg",
        b'<dc:date>2026-01-01</dc:date><path id="mc4fbfb4971"/><use xlink:href="#mc4fbfb4971"/>',
    )
    _write(
        slurm,
        "f.svg",
        b'<dc:date>2027-02-02</dc:date><path id="md4cf5cdb79"/><use xlink:href="#md4cf5cdb79"/>',
    )
    (row,) = compare_results.compare_trees(local, slurm)
    assert row.status == "same_after_normalising"
