"""Locked installs (issue 9): requirements/*.lock, pyproject.toml's ranges and the conda env agree."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LOCKS = {"base": (), "test": ("test",), "slurm": ("slurm",)}
# the workflow's scripts run in the conda env; Snakemake and the report's pygments run in the
# driver's environment and so are not in the env
DRIVER_ONLY = {"snakemake", "pygments"}


def read_lock(path: Path) -> dict[str, str]:
    """name -> exact version of a `uv pip compile --generate-hashes` lock; every pin hashed."""
    text = path.read_text()
    pins = {}
    for block in re.split(r"\n(?=\S)", text):
        if block.startswith("#") or not block.strip():
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)==([^\s;\\]+)", block)
        assert m, f"{path.name}: not an exact pin: {block.splitlines()[0]!r}"
        assert "--hash=sha256:" in block, f"{path.name}: {m[1]} has no hash"
        pins[canonicalize_name(m[1])] = m[2]
    return pins


def requirements(*extras: str) -> list[Requirement]:
    deps = list(PROJECT["project"]["dependencies"])
    for extra in extras:
        deps += PROJECT["project"]["optional-dependencies"][extra]
    build = [r for r in PROJECT["build-system"]["requires"]]
    return [Requirement(d) for d in deps + build]


def conda_env() -> dict[str, str]:
    env = yaml.safe_load((REPO / "envs/ketamine-bzd.yaml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        for spec in dep["pip"] if isinstance(dep, dict) else [dep]:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(?:==?\s*(\S+))?", spec)
            assert m, spec
            name = canonicalize_name(m[1].replace("matplotlib-base", "matplotlib"))
            pins[name] = m[2]
    return pins


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_lock_pins_each_requirement_within_its_pyproject_range(lock):
    pins = read_lock(REPO / f"requirements/{lock}.lock")
    for req in requirements(*LOCKS[lock]):
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock}.lock lacks {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{lock}.lock pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}"
        )


def test_the_locks_agree_on_shared_packages():
    base = read_lock(REPO / "requirements/base.lock")
    for lock in ("test", "slurm"):
        pins = read_lock(REPO / f"requirements/{lock}.lock")
        differ = {n: (v, pins[n]) for n, v in base.items() if n in pins and pins[n] != v}
        assert not differ, f"{lock}.lock and base.lock differ: {differ}"


def test_the_conda_env_pins_the_locked_versions():
    base = read_lock(REPO / "requirements/base.lock")
    env = conda_env()
    assert env.pop("python") == "3.11"  # the locks are made for CPython 3.11 (Makefile, `make lock`)
    env.pop("pip")
    runtime = {canonicalize_name(r.name) for r in requirements()} - DRIVER_ONLY
    assert set(env) == runtime, "envs/ketamine-bzd.yaml lists other packages than pyproject.toml"
    wrong = {n: (v, base[n]) for n, v in env.items() if v != base[n]}
    assert not wrong, f"envs/ketamine-bzd.yaml vs base.lock: {wrong}"


def test_the_post_deploy_script_installs_the_workflow_source_without_deps():
    script = (REPO / "envs/ketamine-bzd.post-deploy.sh").read_text()
    install = [line for line in script.splitlines() if "pip install" in line]
    assert install and all(
        "--no-deps" in line and " -e " not in line and " ." not in line for line in install
    )
    assert "KETAMINE_BZD_WORKFLOW_DIR" in (REPO / "rules/common.smk").read_text()
