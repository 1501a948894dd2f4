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
import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

PACKAGE = "ketamine_bzd"
# each module's digest and imports, kept between processes (a Snakemake parse hashes ~90
# modules: 1-2 s of parsing and ast.dump, in every snakemake call and every cluster job);
# keyed by the file's bytes, so an entry is used only for the very file it was made from
CACHE_FILE = f"__pycache__/codehash.{sys.implementation.cache_tag}.json"


def _stamp(path: Path) -> tuple[Path, int, int]:
    """The path with its mtime and size: a file edited since it was read is read again."""
    stat = path.stat()
    return path, stat.st_mtime_ns, stat.st_size


@cache
def _stored(root: Path) -> dict:
    """The persistent cache of the package at ``root`` ({} if absent or unreadable)."""
    try:
        stored = json.loads((root / CACHE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


_changed: set[Path] = set()


def _save(root: Path) -> None:
    """Write the cache of ``root`` if it gained entries; silently not where the package's folder
    is read-only (the cache only saves time). Written to a temporary file and renamed, so that
    parallel parses never read half a file."""
    if root not in _changed:
        return
    path = root / CACHE_FILE
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        tmp.write_text(json.dumps(_stored(root), sort_keys=True))
        os.replace(tmp, path)
        _changed.discard(root)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@cache
def _facts(root: Path, path: Path, mtime_ns: int, size: int) -> tuple[str, frozenset[tuple[str, ...]]]:
    """Digest of one module's syntax tree (``ast.dump``: comments and layout left out) and the
    package modules it imports, from the persistent cache when its bytes are the cached ones."""
    source = path.read_bytes()
    rel = path.relative_to(root).as_posix()
    content = hashlib.sha256(source).hexdigest()
    entry = _stored(root).get(rel)
    if isinstance(entry, list) and len(entry) == 3 and entry[0] == content:
        return entry[1], frozenset(tuple(i) for i in entry[2])
    tree = ast.parse(source, filename=str(path))
    digest = hashlib.sha256(ast.dump(tree).encode()).hexdigest()
    imports = _imports_in(tree, path.relative_to(root).with_suffix("").parts)
    _stored(root)[rel] = [content, digest, sorted(list(i) for i in imports)]
    _changed.add(root)
    return digest, imports


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


def _imports_in(tree: ast.Module, rel: tuple[str, ...]) -> frozenset[tuple[str, ...]]:
    """Package modules (as name parts below the package) that the module ``rel`` imports."""
    package = rel[:-1]  # the package the module belongs to (for __init__: itself)
    found: set[tuple[str, ...]] = set()
    for node in ast.walk(tree):
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
                todo += list(_facts(root, *_stamp(path))[1])
    return sorted(seen)


def code_hash(root: str | Path, names: Iterable[str]) -> str:
    """16 hex digits of sha256 over the syntax trees of :func:`modules_run` (path-independent)."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in modules_run(root, names):
        tree = _facts(root, *_stamp(path))[0]
        digest.update(f"{path.relative_to(root).as_posix()}\n{tree}\n".encode())
    _save(root)
    return digest.hexdigest()[:16]
