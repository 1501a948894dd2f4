"""Fast checks of the workflow definition: file names, schema, lint (the env: test_locks.py)."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ketamine_bzd.formats import FORMATS

REPO = Path(__file__).resolve().parents[1]


def test_workflow_file_roles_match_the_format_modules():
    text = (REPO / "rules/common.smk").read_text()
    block = text[text.index("FORMAT_ROLES = {") + len("FORMAT_ROLES = ") :]
    block = block[: block.index("\n}\n") + 2]
    assert eval(block) == {name: tuple(m.FILE_ROLES) for name, m in FORMATS.items()}
    block = text[text.index("FORMAT_OPTIONAL_ROLES = {") + len("FORMAT_OPTIONAL_ROLES = ") :]
    block = block[: block.index("}\n") + 2]
    optional = {name: tuple(m.OPTIONAL_ROLES) for name, m in FORMATS.items() if hasattr(m, "OPTIONAL_ROLES")}
    assert eval(block) == optional


def test_default_config_files_are_the_formats_default_names():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for study, spec in config["studies"].items():
        names = FORMATS[spec["format"]].DEFAULT_FILENAMES
        assert spec["files"] == {r: f"results/synthetic/{study}/{n}" for r, n in names.items()}


def test_config_validates_against_schema_and_enum_lists_every_format():
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(REPO / "schemas/config.schema.yaml"))
    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
    fmt = schema["properties"]["studies"]["additionalProperties"]["properties"]["format"]
    assert set(fmt["enum"]) == set(FORMATS)


@pytest.mark.slow  # parses the workflow (also in make lint)
def test_snakemake_lint_is_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--cores", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_snakefmt_clean():
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "snakefmt"), "--check", "Snakefile", "rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _schema_keys(node, path=(), config=None, fixed=True):
    """(path, property schema, config value or None) of every property, nested items included."""
    for key, sub in (node.get("properties") or {}).items():
        value = config.get(key) if fixed and isinstance(config, dict) else None
        yield (*path, key), sub, fixed, value
        yield from _schema_keys(sub, (*path, key), value, fixed)
        for inner in (sub.get("additionalProperties"), sub.get("items")):
            if isinstance(inner, dict):
                yield from _schema_keys(inner, (*path, key, "*"), None, False)


def test_every_schema_key_has_a_description_and_the_config_yaml_default():
    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    keys = list(_schema_keys(schema, config=config))
    assert len(keys) > 60
    for path, sub, fixed, value in keys:
        name = ".".join(path)
        assert sub.get("description", "").strip(), f"{name}: no description"
        if fixed:  # keys at fixed places: the default is config.yaml's value (one truth, checked)
            assert "default" in sub, f"{name}: no default"
            assert sub["default"] == value, (
                f"{name}: schema default {sub['default']!r} != config.yaml {value!r}"
            )


def test_make_run_checks_and_passes_your_config(tmp_path):
    """`make run CONFIG=f` checks f's YAML (file and line of an error) before snakemake reads
    it, and the run, its report and the dry run all use f and ARGS."""
    out = subprocess.run(
        ["make", "-n", "-B", "run", "dry-run", "CONFIG=my_study.yaml", "ARGS=--replace-workflow-config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    check = next(i for i, line in enumerate(lines) if "ketamine_bzd.yaml_check my_study.yaml" in line)
    runs = [i for i, line in enumerate(lines) if "snakemake --cores" in line]
    assert runs and check < runs[0]
    for i in runs:
        assert "--configfile my_study.yaml --replace-workflow-config" in lines[i], lines[i]
