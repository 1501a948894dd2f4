"""Digest of the package code a workflow rule runs: its ``params: code=`` value.

Snakemake reruns a job whose params changed, so a digest of the modules a rule's script imports
reruns the rule when that code changes, without listing every module as an input file (which
clutters the DAG and the report and breaks use as a Snakemake module). The digest is taken over
each module's syntax tree (``ast.dump``): an edit of comments or layout changes nothing, an edit
of code or docstrings reruns. The modules are the named ones plus everything they import from
the package, transitively, and the ``__init__`` of every package on the way.

Standard library only: ``rules/common.smk`` loads this file by path at parse time, without
importing the package.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = "ketamine_bzd"


def _stamp(path: Path) -> tuple[Path, int, int]:
    """The path with its mtime and size: a file edited since it was parsed is parsed again."""
    stat = path.stat()
    return path, stat.st_mtime_ns, stat.st_size


@cache
def _parse(path: Path, mtime_ns: int, size: int) -> ast.Module:
    return ast.parse(path.read_bytes(), filename=str(path))


# Snakemake calls code_hash once per rule at parse time, over overlapping module sets: each
# file's tree, imports and dump are computed once per process (ast.dump dominates otherwise).
@cache
def _dump(path: Path, mtime_ns: int, size: int) -> str:
    return ast.dump(_parse(path, mtime_ns, size))


def module_file(root: Path, parts: tuple[str, ...]) -> Path | None:
    """``root/a/b.py`` or ``root/a/b/__init__.py`` for module ``a.b`` of the package at ``root``."""
    if not parts:
        return root / "__init__.py"
    path = root.joinpath(*parts)
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _imports(root: Path, path: Path) -> frozenset[tuple[str, ...]]:
    """Package modules (as name parts below the package) that one module imports."""
    return _imports_of(root, *_stamp(path))


@cache
def _imports_of(root: Path, path: Path, mtime_ns: int, size: int) -> frozenset[tuple[str, ...]]:
    rel = path.relative_to(root).with_suffix("").parts
    package = rel[:-1]  # the package the module belongs to (for __init__: itself)
    found: set[tuple[str, ...]] = set()
    for node in ast.walk(_parse(path, mtime_ns, size)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
            elif node.module and (node.module + ".").startswith(PACKAGE + "."):
                base = ()
            else:
                continue
            name = node.module or ""
            if not node.level:
                name = name.removeprefix(PACKAGE).lstrip(".")
            target = base + tuple(p for p in name.split(".") if p)
            found.add(target)
            found.update(target + (alias.name,) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if (alias.name + ".").startswith(PACKAGE + "."):
                    found.add(tuple(alias.name.split(".")[1:]))
    return frozenset(found)


def modules_run(root: Path, names: Iterable[str]) -> list[Path]:
    """Files of the named modules or subpackages (``"formats"``, ``"stats.roc"``) and of all
    package modules they import, transitively, sorted."""
    todo: list[tuple[str, ...]] = []
    for name in names:
        parts = tuple(name.split("."))
        if module_file(root, parts) is None:
            raise FileNotFoundError(f"no module {PACKAGE}.{name} in {root}")
        todo.append(parts)
        folder = root.joinpath(*parts)
        if folder.is_dir():  # a subpackage stands for all its modules
            todo += [p.relative_to(root).with_suffix("").parts for p in folder.rglob("*.py")]
    seen: set[Path] = set()
    while todo:
        parts = todo.pop()
        if parts and parts[-1] == "__init__":
            parts = parts[:-1]
        for depth in range(len(parts) + 1):  # importing a.b runs a/__init__ first
            path = module_file(root, parts[:depth])
            if path is not None and path not in seen:
                seen.add(path)
                todo += list(_imports(root, path))
    return sorted(seen)


def code_hash(root: str | Path, names: Iterable[str]) -> str:
    """16 hex digits of sha256 over the syntax trees of :func:`modules_run` (path-independent)."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in modules_run(root, names):
        tree = _dump(*_stamp(path))
        digest.update(f"{path.relative_to(root).as_posix()}\n{tree}\n".encode())
    return digest.hexdigest()[:16]
