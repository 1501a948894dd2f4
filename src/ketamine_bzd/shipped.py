"""Reference tables shipped with the workflow (``resources/``): which copy the package reads.

The workflow passes every table a rule reads in from ``snakemake.input`` (the scripts wrap the
call in :func:`use_resources`), so the rule's inputs name each file it depends on, also when the
workflow runs as a Snakemake module from another folder. Library use without the workflow falls
back to the copy inside the installed package: ``src/ketamine_bzd/resources`` is a link to the
repository's ``resources/`` (the one source), which the wheel carries as package data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.resources import files
from pathlib import Path

# name relative to resources/ (e.g. "drugs.csv") -> the file to read instead of the shipped one
_PASSED_IN: ContextVar[Mapping[str, Path] | None] = ContextVar("ketamine_bzd_resources", default=None)


def shipped_path(name: str) -> Path:
    """The copy of ``resources/<name>`` shipped inside the installed package."""
    root = files("ketamine_bzd") / "resources"
    if not isinstance(root, Path):  # e.g. a zipped install: no real file to hand to readers
        raise FileNotFoundError(f"ketamine_bzd is not installed as files; cannot read resources/{name}")
    return root / name


def resource_path(name: str) -> Path:
    """``resources/<name>`` as passed in by :func:`use_resources`, else the shipped copy."""
    passed = (_PASSED_IN.get() or {}).get(name)
    return Path(passed) if passed is not None else shipped_path(name)


@contextmanager
def use_resources(paths: Mapping[str, str | Path]) -> Iterator[None]:
    """Read ``resources/<name>`` from ``paths[name]`` inside the block (the rule's inputs).

    A context rather than one more argument: every ingest adapter and the synthetic generator
    read the registers deep inside, and their public signatures stay as the format contract
    (``docs/data-contract.md``) defines them.
    """
    token = _PASSED_IN.set({**(_PASSED_IN.get() or {}), **{k: Path(v) for k, v in paths.items()}})
    try:
        yield
    finally:
        _PASSED_IN.reset(token)
