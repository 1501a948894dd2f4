"""Shared fixtures: one full run of the default workflow serves every workflow-level test."""

import os
import shutil
from pathlib import Path

import pytest

from workflow_helpers import copy_workflow, snakemake


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """A fresh copy of the repository after `snakemake` on the synthetic default (read-only use).

    KETAMINE_BZD_TEST_RUN_DIR names an already completed run to reuse while developing tests.
    """
    if os.environ.get("KETAMINE_BZD_TEST_RUN_DIR"):
        return Path(os.environ["KETAMINE_BZD_TEST_RUN_DIR"])
    workdir = copy_workflow(tmp_path_factory.mktemp("default_run"))
    snakemake(workdir)
    return workdir


@pytest.fixture
def default_run_copy(default_run, tmp_path):
    """A private copy of the completed default run (results and Snakemake metadata, mtimes kept)."""
    dest = tmp_path / "run"
    shutil.copytree(default_run, dest, symlinks=True)
    return dest
