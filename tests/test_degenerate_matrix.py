"""The degenerate-cohort matrix (issue 8, deliverable 2; docs/reliability.md, "Degenerate cohorts").

Every cell of ``degenerate_cohorts.CELLS`` is written through the raw formats and run through
the whole default target; it must finish with every output written, no NaN or infinity shown as
a number in any JSON, CSV or Markdown output, and the warning that says why a quantity is null.

- ``test_cell_in_process``: every cell, the workflow's own scripts run in this process
  (``inprocess.run_default_target``) with the small multiverse grid: part of ``make test``.
- ``test_cell_through_snakemake``: the cell of the issue's crash in ``multiverse_combine``
  (no BZD+ responder) through the real ``snakemake`` command line (small resample counts): part
  of ``make test``; one cell only, as a fresh copy pays numba's compilation once more.
- ``test_matrix_through_snakemake``: every cell through ``snakemake`` with the whole grid:
  ``make test-matrix`` (KETAMINE_BZD_MATRIX=1), a manual target.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from degenerate_cohorts import CELLS, build_cell, cell_config
from inprocess import run_default_target

from workflow_helpers import copy_workflow, snakemake

pytestmark = pytest.mark.integration
KEY = {"KETAMINE_BZD_KEY": "test-key"}
KEY_OUTPUTS = [
    "results/analysis/paper_comparison.csv",
    "results/analysis/figures/figure1_roc.png",
    "results/analysis/figures/figure2_madrs_course.png",
    "results/analysis/figures/dose_response.png",
    "results/multiverse/joint_inference.json",
    "results/multiverse/specification_curve.png",
    "results/multiverse/cutoff_bootstrap.json",
    "results/analysis/table1.md",
]
NAN_TOKEN = re.compile(r"(?<![A-Za-z_])(nan|-?inf|infinity)(?![A-Za-z_])", re.IGNORECASE)


class _Exports(dict):
    """A cell's raw exports, written on first use (the synthetic draw is cached)."""

    def __init__(self, base: Path):
        super().__init__()
        self.base = base

    def __missing__(self, name):
        self[name] = build_cell(name, self.base / name)
        return self[name]


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    return _Exports(tmp_path_factory.mktemp("degenerate_exports"))


# --- what every cell must satisfy ----------------------------------------------------------


def _no_number_that_is_not_one(results: Path) -> None:
    """No NaN/Infinity in JSON, no "nan"/"inf" cell in CSV, no "nan"/"inf" in Markdown."""

    def refuse(constant, path):
        pytest.fail(f"{path}: {constant} written as a number")

    for path in sorted(results.rglob("*.json")):
        json.loads(path.read_text(), parse_constant=lambda c, p=path: refuse(c, p))
    for path in sorted(results.rglob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        bad = frame.apply(lambda col: col.str.strip().str.fullmatch(NAN_TOKEN.pattern, case=False)).any()
        assert not bad.any(), f"{path}: 'nan'/'inf' cells in column(s) {list(bad[bad].index)}"
    for path in sorted(results.rglob("*.md")):
        hit = NAN_TOKEN.search(path.read_text())
        assert hit is None, f"{path}: {hit.group(0)!r} shown as a number"


def _load(results: Path, rel: str):
    return json.loads((results / rel).read_text())


def _cell_specific(name: str, results: Path) -> None:
    """The null quantities of each cell, with the warning that says why (docs/reliability.md)."""
    if name in ("quasi_separation", "complete_separation"):
        paper = _load(results, "multiverse/joint_inference.json")["paper_specification"][0]
        assert paper["status"] == "not_estimable" and paper["estimate"] is None
        assert "separation" in paper["warnings"]
    if name in ("no_antidepressants", "empty_medication_file"):
        assert (
            "ad_therapy outside ['monotherapy', 'combination'] not counted"
            in (results / "analysis/table1.md").read_text()
        )
    if name in ("no_bzd_users",):
        r = _load(results, "analysis/response_by_group.json")["response_by_bzd_group"]
        assert r["p_value"] is None and any("have no patients" in w for w in r["warnings"])
    if name in ("no_bzd_users", "same_dose"):
        rm = _load(results, "analysis/rm_anova.json")
        assert rm["estimable"] is False and rm["error"]
    if name in ("no_responders", "all_responders"):
        roc = _load(results, "analysis/roc.json")["populations"]["all"]
        assert roc["estimable"] is False and roc["warnings"]
    if name == "single_study":
        specs = pd.read_csv(results / "multiverse/specifications.csv")
        assert set(specs["population"]) >= {"study_ket2013"} and "study_ket2009" not in set(
            specs["population"]
        )


def _written(path: Path) -> bool:
    """A file with content, or a Parquet dataset directory whose files all have content."""
    if path.is_dir():
        files = list(path.glob("*.parquet"))
        return bool(files) and all(f.stat().st_size > 0 for f in files)
    return path.is_file() and path.stat().st_size > 0


def _check_run(name: str, workdir: Path, outputs: list[str]) -> None:
    missing = [o for o in outputs if not _written(workdir / o)]
    assert not missing, f"{name}: outputs not written: {missing}"
    _no_number_that_is_not_one(workdir / "results")
    _cell_specific(name, workdir / "results")


# --- every cell, in process -----------------------------------------------------------------


@pytest.fixture(scope="module")
def inprocess_workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("degenerate_inprocess"))


@pytest.mark.slow  # every stage on 13 cohorts (about 3 minutes); `make test-fast` skips it
@pytest.mark.parametrize("name", list(CELLS))
def test_cell_in_process(name, exports, inprocess_workdir):
    workdir = inprocess_workdir
    shutil.rmtree(workdir / "results", ignore_errors=True)
    config = workdir / f"{name}.yaml"
    config.write_text(yaml.safe_dump(cell_config(exports[name], workdir, small_grid=True)))
    outcomes = run_default_target(workdir, config, env=KEY)
    failed = [o for o in outcomes if not o.ok]
    assert not failed, (
        f"{name}: {failed[0].rule} {failed[0].wildcards} failed: {failed[0].error}\n{failed[0].log[-3000:]}"
    )
    assert {o.rule for o in outcomes} >= {
        "ingest",
        "cohort",
        "analysis_paper_comparison",
        "multiverse_combine",
        "multiverse_bootstrap",
        "analysis_figures",
    }
    _check_run(name, workdir, [p for o in outcomes for p in o.outputs])


# --- through the real command line ----------------------------------------------------------


def _snakemake_cell(name, exports, workdir, small_grid):
    for stale in ("results", ".snakemake"):
        shutil.rmtree(workdir / stale, ignore_errors=True)
    config = workdir / f"{name}.yaml"
    config.write_text(yaml.safe_dump(cell_config(exports[name], workdir, small_grid=small_grid)))
    proc = snakemake(workdir, "--configfile", config.name, "--replace-workflow-config", check=False)
    assert proc.returncode == 0, f"{name}: snakemake exit {proc.returncode}\n{proc.stderr[-4000:]}"
    # exit 0 means Snakemake found every declared output; these are the ones the issue saw missing
    _check_run(name, workdir, KEY_OUTPUTS)


@pytest.fixture(scope="module")
def snakemake_workdir(default_run, tmp_path_factory):
    # a copy of the completed default run (shared with the other workflow tests): its numba
    # cache (__pycache__ beside the kernels, mtimes kept) spares each cell minutes of
    # compilation; every cell then starts from an empty results/ and .snakemake/
    dest = tmp_path_factory.mktemp("degenerate_snakemake") / "run"
    shutil.copytree(default_run, dest, symlinks=True)
    return dest


@pytest.mark.slow
@pytest.mark.parametrize("name", ["quasi_separation"])
def test_cell_through_snakemake(name, exports, snakemake_workdir):
    _snakemake_cell(name, exports, snakemake_workdir, small_grid=True)


@pytest.mark.matrix
@pytest.mark.skipif(
    os.environ.get("KETAMINE_BZD_MATRIX") != "1",
    reason="the whole matrix through snakemake: make test-matrix",
)
@pytest.mark.parametrize("name", list(CELLS))
def test_matrix_through_snakemake(name, exports, snakemake_workdir):
    _snakemake_cell(name, exports, snakemake_workdir, small_grid=False)
