"""YAML syntax errors with the file and line (Snakemake's own message names neither).

``python -m ketamine_bzd.yaml_check my_study.yaml`` checks config files before a run (Snakemake
reads ``--configfile`` files before the workflow's code runs, so the workflow cannot improve that
message itself); the Snakefile checks ``config.yaml`` the same way at parse time. Uses PyYAML
only, so the Snakefile can load this module by path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


class ConfigSyntaxError(ValueError):
    """A config file that is not valid YAML: ``file, line L, column C: problem``."""


def check_yaml_file(path: str | Path) -> None:
    """Parse ``path`` as YAML; raise :class:`ConfigSyntaxError` naming file, line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigSyntaxError(f"{path}: config file not found") from None
    except UnicodeDecodeError as err:
        raise ConfigSyntaxError(f"{path}: not UTF-8 text (byte {err.start})") from None
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(p for p in (err.context, err.problem) if p)
        opened = err.context_mark
        if opened and mark and opened.line != mark.line:  # e.g. an unclosed [ or {
            problem += f" (the construct starts at line {opened.line + 1})"
        line = text.splitlines()[mark.line] if mark and mark.line < len(text.splitlines()) else ""
        shown = f" (line reads: {line.strip()[:80]!r})" if line.strip() else ""
        raise ConfigSyntaxError(f"{path}{where}: YAML syntax error: {problem}{shown}") from None
    except yaml.YAMLError as err:
        raise ConfigSyntaxError(f"{path}: YAML syntax error: {err}") from None


def main(argv: list[str]) -> int:
    status = 0
    for arg in argv:
        try:
            check_yaml_file(arg)
        except ConfigSyntaxError as err:
            print(f"ERROR: {err}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
