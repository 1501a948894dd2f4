"""Run the Snakemake workflow in a throwaway copy of the repository (integration tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def copy_workflow(dest: Path) -> Path:
    """Copy the git-tracked (and untracked, not ignored) files: what a fresh clone would have."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900,
              key: str | None = "test-key"):
    """``key=None`` runs without KETAMINE_BZD_KEY (the key file path, as on a fresh clone)."""
    # the copy runs its own package code, not the checkout the venv was installed from
    env = {**os.environ, "KETAMINE_BZD_KEY": key, "PYTHONPATH": str(workdir / "src")}
    if key is None:
        del env["KETAMINE_BZD_KEY"]
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", "--profile", "profiles/default", *args],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


# Targets that stop after ingest and the cohort (no analyses): cheap workflow-level tests.
COHORT_TARGETS = ("results/cohort/provenance.csv", "results/qc/soft_problems.csv")
