"""Shared fixtures: one full run of the default workflow serves every workflow-level test."""

import contextlib
import datetime as dt
import fcntl
import os
import pickle
import re
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
import yaml

from workflow_helpers import COHORT_TARGETS, copy_workflow, snakemake

SHARED_ENV = "KETAMINE_BZD_SHARED_RUNS"  # set by the xdist controller for its workers
_background: list[threading.Thread] = []


def pytest_configure(config):
    """Under pytest-xdist the controller process, otherwise idle, starts the shared default run
    in the background while the workers begin with other tests; a worker that needs it before it
    is done waits for it (without this, one worker builds it while the other may sit waiting)."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    root = Path(tempfile.mkdtemp(prefix="ketamine-bzd-shared-runs-"))
    os.environ[SHARED_ENV] = str(root)  # the workers, started after this hook, inherit it
    if "not slow" in (config.option.markexpr or "") or os.environ.get("KETAMINE_BZD_TEST_RUN_DIR"):
        return
    # a failed build leaves no .built mark: the first test that needs the run builds it again
    # and reports the failure
    thread = threading.Thread(target=_default_run_quietly, args=(root,), daemon=True)
    thread.start()
    _background.append(thread)


def pytest_unconfigure(config):
    if hasattr(config, "workerinput") or SHARED_ENV not in os.environ:
        return
    for thread in _background:
        thread.join()
    shutil.rmtree(os.environ.pop(SHARED_ENV), ignore_errors=True)


def _default_run_quietly(root):
    with contextlib.suppress(Exception):
        _default_run_in(root)


def _default_run_in(root):
    """The shared default run below ``root``, built by the first process that gets there."""
    with _built_once(root, "default_run") as (folder, build):
        if build:
            snakemake(copy_workflow(folder))
    return folder


def _shared_root(tmp_path_factory):
    """The folder shared by every pytest-xdist worker of this session (make test runs two), set
    by the controller; without xdist an ordinary session folder."""
    return Path(os.environ.get(SHARED_ENV) or tmp_path_factory.getbasetemp())


@contextlib.contextmanager
def _built_once(root, name):
    """``root/shared_<name>`` and whether it still has to be built: the first process (the
    controller's background build, or a worker) builds it while holding a lock, the others wait
    and reuse it."""
    folder = root / f"shared_{name}"
    with open(root / f"shared_{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = folder / ".built"
        yield folder, not done.exists()
        if not done.exists():
            done.touch()


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """A fresh copy of the repository after `snakemake` on the synthetic default with the small
    test config (tests/config-test.yaml; read-only use), built once for all test workers.

    KETAMINE_BZD_TEST_RUN_DIR names an already completed run to reuse while developing tests.
    """
    if os.environ.get("KETAMINE_BZD_TEST_RUN_DIR"):
        return Path(os.environ["KETAMINE_BZD_TEST_RUN_DIR"])
    return _default_run_in(_shared_root(tmp_path_factory))


@pytest.fixture
def default_run_copy(default_run, tmp_path):
    """A private copy of the completed default run (results and Snakemake metadata, mtimes kept)."""
    dest = tmp_path / "run"
    shutil.copytree(default_run, dest, symlinks=True)
    return dest


def _shift_first_visit(path, code="D1", days=-5):
    """Date the first ``code`` MADRS rating ``days`` earlier (a 24 h visit before the infusion);
    return its data row (the header is row 0)."""
    text = path.read_text(encoding="cp1250")
    m = re.search(rf";{code};(\d\d\.\d\d\.\d{{4}});MADRS;", text)
    date = dt.datetime.strptime(m[1], "%d.%m.%Y") + dt.timedelta(days=days)
    path.write_text(text[: m.start(1)] + date.strftime("%d.%m.%Y") + text[m.end(1) :], encoding="cp1250")
    return text[: m.start()].count("\n")


@pytest.fixture(scope="session")
def own_exports_run(tmp_path_factory):
    """A copy run to the cohort (COHORT_TARGETS) on own exports outside results/: the 24 h MADRS
    of one ket2013 patient dated before the infusion, and the ket2009 export configured a second
    time as study ket2009b. ``twice.yaml`` (the first run, which must fail at the cohort) and
    ``overlap.yaml`` (the same with the two declared overlapping_studies) are in the copy.
    Returns (workdir, exports {study: {role: path}}, edited row, first run's process)."""
    with _built_once(_shared_root(tmp_path_factory), "own_exports_run") as (folder, build):
        state = folder / "state.pickle"
        if build:
            state.write_bytes(pickle.dumps(_own_exports_run(folder)))
        return pickle.loads(state.read_bytes())


def _own_exports_run(folder):
    from ketamine_bzd.formats import FORMATS
    from ketamine_bzd.synthetic import generate_cohort

    formats = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}
    workdir = copy_workflow(folder / "own")
    base = folder / "exports"
    truth = generate_cohort(47, 20200819)
    exports = {s: FORMATS[f].write(truth[s], base / s) for s, f in formats.items()}
    row = _shift_first_visit(exports["ket2013"]["ratings"])
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["synthetic"]["enabled"] = False
    config["studies"] = {
        s: {"format": formats[s], "files": {r: str(p) for r, p in exports[s].items()}} for s in formats
    }
    config["studies"]["ket2009b"] = config["studies"]["ket2009"]
    (workdir / "twice.yaml").write_text(yaml.safe_dump(config))
    config["overlapping_studies"] = [["ket2009", "ket2009b"]]
    (workdir / "overlap.yaml").write_text(yaml.safe_dump(config))
    first = snakemake(workdir, *COHORT_TARGETS, "--configfile", "twice.yaml", check=False)
    return workdir, exports, row, first
