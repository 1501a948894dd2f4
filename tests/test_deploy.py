"""The workflow deployed as others deploy it (issue 9): the package from a wheel, the workflow as a
Snakemake module (`module` + `use rule * from`) in an unrelated folder.

The wheel goes into a folder of its own (``pip install --no-deps --target``: the test venv
already has the dependencies) that is the only package folder on PYTHONPATH, so neither the
checkout nor the venv's editable install is what the module's jobs import.
"""

import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from workflow_helpers import REPO, SNAKEMAKE, copy_workflow, run_env

pytestmark = pytest.mark.slow

# What a user writes in a folder of their own (README, "As a Snakemake module").
MODULE_SNAKEFILE = """\
configfile: "{clone}/config.yaml"


module ketamine_bzd:
    snakefile:
        "{clone}/Snakefile"
    config:
        config


use rule * from ketamine_bzd
"""


def digest(root: Path) -> dict[str, str]:
    """sha256 of every result file; not logs and benchmarks (timings, host), the report, or the
    clone's placeholder results/.gitkeep."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "results").rglob("*"))
        if p.is_file()
        and p.relative_to(root).parts[1] != "logs"
        and p.suffix != ".html"
        and p.name != ".gitkeep"
    }


def pip(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--quiet", "--no-index", "--no-deps"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    clone = copy_workflow(root / "clone")  # a fresh clone (small test config)
    pip("wheel", "--no-build-isolation", "--wheel-dir", str(root / "dist"), str(clone))
    (wheel,) = (root / "dist").glob("ketamine_bzd-*.whl")
    site = root / "site"
    pip("install", "--target", str(site), str(wheel))
    # the README's optional step after installing: the numba kernels compiled once for the
    # wheel's path, not in each of the first run's multiverse jobs
    compile_kernels = "from ketamine_bzd.multiverse.kernels import compile_kernels; compile_kernels()"
    subprocess.run([sys.executable, "-c", compile_kernels], env=run_env(site), check=True, timeout=300)
    user = root / "user"
    user.mkdir()
    (user / "Snakefile").write_text(MODULE_SNAKEFILE.format(clone=clone))
    return SimpleNamespace(clone=clone, wheel=wheel, site=site, user=user)


def run(cwd: Path, site: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [*SNAKEMAKE, "--cores", "2", *args],
        cwd=cwd,
        env=run_env(site),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def job_stats(proc: subprocess.CompletedProcess) -> dict[str, int]:
    text = proc.stdout + proc.stderr
    table = text[text.index("Job stats:") :]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_the_wheel_ships_the_resources_and_is_what_gets_imported(deployed):
    names = set(zipfile.ZipFile(deployed.wheel).namelist())
    resources = REPO / "resources"
    shipped = {
        f"ketamine_bzd/resources/{p.relative_to(resources).as_posix()}"
        for p in resources.rglob("*")
        if p.is_file()
    }
    assert shipped and shipped <= names
    code = (
        "import ketamine_bzd, ketamine_bzd.formats.common as c; "
        "print(ketamine_bzd.__file__); print(c.drugs_path())"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=deployed.user,
        env=run_env(deployed.site),
        capture_output=True,
        text=True,
        check=True,
    )
    package, drugs = proc.stdout.split()
    assert Path(package).is_relative_to(deployed.site)
    assert Path(drugs).is_relative_to(deployed.site)
    assert Path(drugs).read_bytes() == (resources / "drugs.csv").read_bytes()


def test_a_dry_run_as_a_module_plans_the_jobs_of_make_dry_run(deployed):
    own = run(deployed.clone, deployed.site, "--profile", "profiles/default", "--dry-run")
    module = run(deployed.user, deployed.site, "--dry-run")
    assert job_stats(module) == job_stats(own)
    assert job_stats(own)["multiverse_slice"] == 2 and job_stats(own)["total"] >= 16


def test_the_module_run_from_the_wheel_gives_the_results_of_a_normal_run(deployed, default_run):
    run(deployed.user, deployed.site)
    written = [p for p in (deployed.clone / "results").rglob("*") if p.name != ".gitkeep"]
    assert not written, "the module wrote into the workflow's folder"
    module, normal = digest(deployed.user), digest(default_run)
    assert len(normal) > 40
    assert module.keys() == normal.keys()
    assert [f for f in normal if module[f] != normal[f]] == []
