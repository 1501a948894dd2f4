"""Compare two ``results/`` trees file by file (local run vs. SLURM run).

Non-figure files must be byte-identical. Figures may legitimately differ in
embedded metadata (PDF creation dates and document IDs, SVG dates, random SVG
element ids), so they are compared after normalisation: PNGs by decoded
pixels, PDFs/SVGs with date and ID fields stripped, and, failing that, by size
within a tolerance (reported, not fatal). Files matching ``--existence-only``
globs (default: logs, whose text has timestamps and durations) only have to
exist in both trees.

Usage: python compare_results.py LOCAL_DIR SLURM_DIR [--size-tolerance 0.05]
       [--existence-only GLOB ...]
Exit status 0 when every file matches (figures within tolerance), else 1.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import sys
from dataclasses import dataclass
from pathlib import Path

FIGURE_SUFFIXES = {".png", ".pdf", ".svg", ".jpg", ".jpeg"}
DEFAULT_EXISTENCE_ONLY = ("logs/*", "*.log")

# Fields that matplotlib/PDF writers fill with wall-clock time or per-run ids.
_PDF_VOLATILE = re.compile(rb"/(CreationDate|ModDate)\s*\([^)]*\)|/ID\s*\[[^\]]*\]")
# matplotlib names SVG markers/clip paths "m"/"p" + 10 hex digits drawn from a
# per-process salt unless rcParams["svg.hashsalt"] is set.
_SVG_VOLATILE = re.compile(rb"<dc:date>[^<]*</dc:date>|\b[mp][0-9a-f]{10}\b")


@dataclass(frozen=True)
class FileComparison:
    """Outcome for one relative path: status is one of ``identical``,
    ``same_after_normalising``, ``figure_size_within_tolerance``,
    ``exists_in_both`` (existence-only files), ``differs``, ``only_in_local``,
    ``only_in_slurm``."""

    path: str
    status: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in {"differs", "only_in_local", "only_in_slurm"}


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _png_pixels_equal(a: Path, b: Path) -> bool | None:
    """True/False when both decode; None when no decoder is available."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow ships with matplotlib
        return None
    with Image.open(a) as ia, Image.open(b) as ib:
        return ia.size == ib.size and ia.mode == ib.mode and ia.tobytes() == ib.tobytes()


def _first_text_difference(a: bytes, b: bytes) -> str:
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb), start=1):
        if x != y:
            col = next(k for k in range(min(len(x), len(y)) + 1) if k >= min(len(x), len(y)) or x[k] != y[k])
            lo = max(col - 30, 0)
            return f"line {i} col {col + 1}: local={x[lo : col + 40]!r} slurm={y[lo : col + 40]!r}"
    return f"{len(la)} vs {len(lb)} lines, {len(a)} vs {len(b)} bytes"


def _max_abs_difference(x, y) -> str:
    """Largest absolute difference between two numeric arrays, as text."""
    import numpy as np

    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return f"shape {x.shape} vs {y.shape}"
    if x.dtype.kind not in "fiub" or y.dtype.kind not in "fiub":
        return "non-numeric values differ" if not np.array_equal(x, y) else ""
    diff = np.abs(x.astype(float) - y.astype(float))
    both_nan = np.isnan(x.astype(float)) & np.isnan(y.astype(float))
    diff = np.where(both_nan, 0.0, diff)
    return f"max |diff| {np.nanmax(diff) if diff.size else 0.0:.3g}" if np.any(diff != 0) else ""


def _binary_detail(path_a: Path, path_b: Path, a: bytes, b: bytes) -> str:
    """Say *what* differs in a parquet/npz file (which columns, how much)."""
    suffix = path_a.suffix.lower()
    try:
        if suffix == ".parquet":
            import pandas as pd

            fa, fb = pd.read_parquet(path_a), pd.read_parquet(path_b)
            if list(fa.columns) != list(fb.columns) or len(fa) != len(fb):
                return f"columns/rows differ: {fa.shape} vs {fb.shape}"
            parts = []
            for col in fa.columns:
                if not fa[col].equals(fb[col]):
                    parts.append(
                        f"{col}: {_max_abs_difference(fa[col].to_numpy(), fb[col].to_numpy()) or 'values differ'}"
                    )
            return "; ".join(parts) or "same values, different encoding"
        if suffix == ".npz":
            import numpy as np

            with np.load(path_a) as za, np.load(path_b) as zb:
                if sorted(za.files) != sorted(zb.files):
                    return f"arrays {sorted(za.files)} vs {sorted(zb.files)}"
                parts = [
                    f"{k}: {_max_abs_difference(za[k], zb[k]) or 'values differ'}"
                    for k in za.files
                    if not np.array_equal(za[k], zb[k], equal_nan=za[k].dtype.kind == "f")
                ]
            return "; ".join(parts) or "same arrays, different encoding (zip timestamps?)"
    except Exception as exc:  # the detail is a diagnosis aid, never a reason to crash
        return f"could not decode ({type(exc).__name__}: {exc})"
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"binary, {len(a)} vs {len(b)} bytes, first difference at byte {first}"


_TEXT_SUFFIXES = {".csv", ".tsv", ".txt", ".json", ".md", ".yaml", ".yml", ".html", ".tex", ".rst"}


def compare_file(local: Path, slurm: Path, rel: str, size_tolerance: float) -> FileComparison:
    a, b = local.read_bytes(), slurm.read_bytes()
    if a == b:
        return FileComparison(rel, "identical")
    suffix = local.suffix.lower()
    if suffix not in FIGURE_SUFFIXES:
        if suffix in _TEXT_SUFFIXES:
            return FileComparison(rel, "differs", _first_text_difference(a, b))
        return FileComparison(rel, "differs", _binary_detail(local, slurm, a, b))
    if suffix == ".png":
        same = _png_pixels_equal(local, slurm)
        if same:
            return FileComparison(rel, "same_after_normalising", "identical pixels")
    elif suffix == ".pdf" and _PDF_VOLATILE.sub(b"", a) == _PDF_VOLATILE.sub(b"", b):
        return FileComparison(rel, "same_after_normalising", "differs only in dates/ID")
    elif suffix == ".svg" and _SVG_VOLATILE.sub(b"", a) == _SVG_VOLATILE.sub(b"", b):
        return FileComparison(rel, "same_after_normalising", "differs only in date/element ids")
    rel_size = abs(len(a) - len(b)) / max(len(a), len(b), 1)
    detail = f"{len(a)} vs {len(b)} bytes ({rel_size:.1%})"
    if rel_size <= size_tolerance:
        return FileComparison(rel, "figure_size_within_tolerance", detail)
    return FileComparison(rel, "differs", detail)


def compare_trees(
    local_root: Path,
    slurm_root: Path,
    size_tolerance: float = 0.05,
    existence_only: tuple[str, ...] = DEFAULT_EXISTENCE_ONLY,
) -> list[FileComparison]:
    """Compare every file under two directories; returns one row per path."""
    local_files, slurm_files = _files(local_root), _files(slurm_root)
    rows = [FileComparison(p, "only_in_local") for p in sorted(local_files - slurm_files)]
    rows += [FileComparison(p, "only_in_slurm") for p in sorted(slurm_files - local_files)]
    for rel in sorted(local_files & slurm_files):
        if any(fnmatch.fnmatch(rel, pattern) for pattern in existence_only):
            rows.append(FileComparison(rel, "exists_in_both"))
            continue
        rows.append(compare_file(local_root / rel, slurm_root / rel, rel, size_tolerance))
    return sorted(rows, key=lambda r: r.path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("local_dir", type=Path)
    parser.add_argument("slurm_dir", type=Path)
    parser.add_argument("--size-tolerance", type=float, default=0.05)
    parser.add_argument(
        "--existence-only",
        action="append",
        metavar="GLOB",
        help=f"only check that matching files exist (default: {' '.join(DEFAULT_EXISTENCE_ONLY)})",
    )
    args = parser.parse_args(argv)
    existence_only = tuple(args.existence_only) if args.existence_only else DEFAULT_EXISTENCE_ONLY
    for d in (args.local_dir, args.slurm_dir):
        if not d.is_dir():
            print(f"compare_results: {d} is not a directory", file=sys.stderr)
            return 1
    rows = compare_trees(args.local_dir, args.slurm_dir, args.size_tolerance, existence_only)
    if not rows:
        print("compare_results: no files to compare", file=sys.stderr)
        return 1
    for row in rows:
        if row.status not in {"identical", "exists_in_both"}:
            print(f"  {row.status:<30} {row.path}  {row.detail}")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    print("compare_results: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    failed = [r for r in rows if r.failed]
    if failed:
        print(f"compare_results: FAIL, {len(failed)} file(s) differ between local and SLURM runs")
        return 1
    print(f"compare_results: OK, {len(rows)} files match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
