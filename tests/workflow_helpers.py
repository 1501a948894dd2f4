"""Run the Snakemake workflow in a throwaway copy of the repository (integration tests).

``copy_workflow(dest)`` copies what a fresh clone holds and, by default (``small=True``), merges
``tests/config-test.yaml`` (few permutations and bootstrap draws) into the copy's config.yaml, so
that a whole run takes well under a minute; ``small=False`` keeps the full default config.
``snakemake(workdir, *args)`` runs the CLI there with the workflow profile. Every run imports
this checkout's package (``src/``) unless ``package=`` names another folder, so all load the
compiled multiverse kernels from one numba cache (``src/ketamine_bzd/multiverse/__pycache__``,
filled by ``make``'s install; numba keys it on the source file's path), not once per copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from cluster.merge_config import deep_merge

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TEST_CONFIG = REPO / "tests/config-test.yaml"


def copy_workflow(dest: Path, small: bool = True) -> Path:
    """Copy the git-tracked (and untracked, not ignored) files: what a fresh clone would have.

    ``small``: merge tests/config-test.yaml into the copy's config.yaml.
    """
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = REPO / rel
        target = dest / rel
        if src.is_symlink():  # e.g. src/ketamine_bzd/resources -> ../../resources
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(os.readlink(src))
        elif src.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    if small:
        config = yaml.safe_load((dest / "config.yaml").read_text())
        overlay = yaml.safe_load(TEST_CONFIG.read_text())
        (dest / "config.yaml").write_text(yaml.safe_dump(deep_merge(config, overlay), sort_keys=False))
    return dest


def run_env(package: Path | None = None, key: str | None = "test-key", **extra: str) -> dict[str, str]:
    """Environment of a workflow run: the key (``None``: no KETAMINE_BZD_KEY, the key file path
    as on a fresh clone), the package imported."""
    env = {
        **os.environ,
        "KETAMINE_BZD_KEY": key or "",
        "PYTHONPATH": str(package or REPO / "src"),
        **extra,
    }
    if key is None:
        del env["KETAMINE_BZD_KEY"]
    return env


def snakemake(
    workdir: Path,
    *args: str,
    check: bool = True,
    timeout: int = 900,
    key: str | None = "test-key",
    package: Path | None = None,
):
    """``snakemake --cores 2 --profile profiles/default ARGS`` in ``workdir``.

    ``key=None`` runs without KETAMINE_BZD_KEY. ``package``: folder put on PYTHONPATH (default:
    this checkout's ``src``; a test that edits the copy's package code passes ``workdir / "src"``).
    """
    env = run_env(package, key)
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", "--profile", "profiles/default", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


# Targets that stop after ingest and the cohort (no analyses): cheap workflow-level tests.
COHORT_TARGETS = ("results/cohort/provenance.csv", "results/qc/soft_problems.csv")
