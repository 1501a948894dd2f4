"""Shared plumbing for the batched kernels: input checking, chunking and tiny
batched linear algebra (Cholesky, inverse, log-determinant) for p <= ~10.

numpy's ``linalg.cholesky``/``inv`` raise for the whole stack when a single
matrix is singular; a multiverse always contains some rank-deficient
specifications (e.g. a constant exposure inside a sub-population), so the
routines here flag bad matrices per batch element instead of raising.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

# Pivot tolerance after scaling to unit diagonal (a correlation-like matrix):
# a pivot below this means the columns are collinear within floating-point noise.
RANK_RTOL = 1e-10


@dataclass(frozen=True)
class Batch:
    """Validated inputs: X (B, n, p) (possibly a broadcast view), y (B, n),
    w (B, n) non-negative frequency weights, excluded rows zeroed."""

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray

    @property
    def size(self) -> int:
        return self.y.shape[0]


def _batch_size(*shapes_and_ndims: tuple[tuple[int, ...], int]) -> int:
    sizes = {shape[0] for shape, base_ndim in shapes_and_ndims if len(shape) > base_ndim}
    if len(sizes) > 1:
        raise ValueError(f"inconsistent batch sizes {sorted(sizes)} across X, y and mask")
    return sizes.pop() if sizes else 1


def prepare(
    X: Any,
    y: Any,
    mask: Any = None,
    *,
    binary_y: bool,
) -> Batch:
    """Broadcast and validate (X, y, mask) to batch form.

    X: (n, p) shared or (B, n, p); y: (n,) or (B, n); mask: None, (n,) or (B, n),
    boolean inclusion or non-negative frequency weights. Values of excluded
    rows (mask 0) are ignored and may be NaN; included rows must be finite
    (and y in {0, 1} when ``binary_y``), otherwise ValueError.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim not in (2, 3):
        raise ValueError(f"X must have shape (n, p) or (B, n, p), got {X.shape}")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must have shape (n,) or (B, n), got {y.shape}")
    n, p = X.shape[-2:]
    if mask is None:
        w = np.ones(n)
    else:
        w = np.asarray(mask, dtype=np.float64)
        if w.ndim not in (1, 2):
            raise ValueError(f"mask must have shape (n,) or (B, n), got {w.shape}")
    if y.shape[-1] != n or w.shape[-1] != n:
        raise ValueError(f"X has n={n} rows but y has {y.shape[-1]} and mask {w.shape[-1]}")
    if p == 0:
        raise ValueError("X has no columns")
    B = _batch_size((X.shape, 2), (y.shape, 1), (w.shape, 1))
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("mask/weights must be finite and non-negative")
    w = np.broadcast_to(w, (B, n))
    inc = w > 0
    # Fast paths for clean input (the multiverse engine's): a finite sum proves every
    # value finite, and then the row-wise checks below cannot fail.
    y_clean = bool(np.isfinite(y.sum())) and (not binary_y or not np.any((y != 0) & (y != 1)))
    y = np.broadcast_to(y, (B, n))
    if not y_clean:
        if not np.all(np.isfinite(y[inc])):
            raise ValueError("y has non-finite values in included rows")
        if binary_y and not np.all((y[inc] == 0) | (y[inc] == 1)):
            raise ValueError("y must be 0/1 in included rows")
    y = np.where(inc, y, 0.0)
    if np.isfinite(X.sum()):
        Xb = np.broadcast_to(X, (B, n, p))
    elif X.ndim == 2:
        bad_rows = ~np.all(np.isfinite(X), axis=1)
        if np.any(inc & bad_rows):
            raise ValueError("X has non-finite values in included rows")
        if bad_rows.any():
            X = np.where(bad_rows[:, None], 0.0, X)
        Xb = np.broadcast_to(X, (B, n, p))
    else:
        bad = ~np.all(np.isfinite(X), axis=2)
        if X.shape[0] != B:
            bad = np.broadcast_to(bad, (B, n))
        if np.any(inc & bad):
            raise ValueError("X has non-finite values in included rows")
        Xb = np.broadcast_to(np.where(bad[..., None], 0.0, X) if bad.any() else X, (B, n, p))
    return Batch(X=Xb, y=np.ascontiguousarray(y), w=np.ascontiguousarray(w))


def chunked(
    fit_one: Callable[..., Any], batch: Batch, chunk_size: int, *, deduplicate: bool = False, **kwargs: Any
) -> Any:
    """Run ``fit_one(sub_batch, **kwargs)`` on slices of at most ``chunk_size``
    batch elements (bounds memory at about chunk_size * n * p * 8 bytes per
    temporary) and concatenate the resulting dataclasses field by field.

    ``deduplicate``: fit each distinct element once and copy its result to the
    elements with exactly the same included rows (weights, y and X). Only valid
    when ``fit_one`` computes every element on its own included rows (the
    compiled kernels); a permuted multiverse repeats many designs (cut-offs that
    select the same patients, relabellings that swap equal exposures)."""
    B = batch.size
    if deduplicate and B > 1:
        from ._numba import duplicate_of

        rep = duplicate_of(np.ascontiguousarray(batch.X), batch.y, batch.w)
        uniq = np.flatnonzero(rep == np.arange(B))
        if uniq.size < B:
            pos = np.empty(B, dtype=np.intp)
            pos[uniq] = np.arange(uniq.size)
            sub = Batch(batch.X[uniq], batch.y[uniq], batch.w[uniq])
            return take(chunked(fit_one, sub, chunk_size, **kwargs), pos[rep])
    if B <= chunk_size:
        return fit_one(batch, **kwargs)
    parts = [
        fit_one(
            Batch(batch.X[s : s + chunk_size], batch.y[s : s + chunk_size], batch.w[s : s + chunk_size]),
            **kwargs,
        )
        for s in range(0, B, chunk_size)
    ]
    cls = type(parts[0])
    values = {}
    for f in fields(cls):
        first = getattr(parts[0], f.name)
        if isinstance(first, np.ndarray):
            values[f.name] = np.concatenate([getattr(r, f.name) for r in parts], axis=0)
        else:
            values[f.name] = first
    return cls(**values)


def take(result: Any, idx: np.ndarray) -> Any:
    """The batch elements ``idx`` of a result dataclass (array fields indexed, others kept)."""
    values = {}
    for f in fields(result):
        v = getattr(result, f.name)
        values[f.name] = v[idx] if isinstance(v, np.ndarray) else v
    return type(result)(**values)


def gram(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """X' diag(w) X for every batch element: (B, n, p), (B, n) -> (B, p, p)."""
    return np.matmul((X * w[..., None]).transpose(0, 2, 1), X)


def cholesky(A: np.ndarray, rtol: float = RANK_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """Batched lower Cholesky factor of symmetric (B, p, p) matrices.

    Returns (L, ok). The pivot test is scale free (doses in mg next to 0/1
    indicators): ok is False where a pivot of the matrix scaled to unit
    diagonal falls below ``rtol`` or is NaN; L is then arbitrary but finite.
    LAPACK (numpy) is tried first; it refuses the whole stack when one matrix
    is not positive definite, and only then the column loop below runs.
    """
    if np.all(np.isfinite(A)):
        try:
            L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            pass
        else:
            d = np.diagonal(A, axis1=1, axis2=2)
            piv = np.diagonal(L, axis1=1, axis2=2) ** 2
            return L, np.all(piv > rtol * d, axis=1)
    return _cholesky_loop(A, rtol)


def _cholesky_loop(A: np.ndarray, rtol: float) -> tuple[np.ndarray, np.ndarray]:
    B, p, _ = A.shape
    d = np.diagonal(A, axis1=1, axis2=2)
    ok = np.all(d > 0, axis=1) & np.all(np.isfinite(A), axis=(1, 2))
    s = np.sqrt(np.where(d > 0, d, 1.0))
    C = A / (s[:, :, None] * s[:, None, :])
    C = np.where(ok[:, None, None], C, np.eye(p))
    L = np.zeros_like(C)
    for j in range(p):
        piv = C[:, j, j] - np.einsum("bk,bk->b", L[:, j, :j], L[:, j, :j])
        good = piv > rtol
        ok &= good
        dj = np.sqrt(np.where(good, piv, 1.0))
        L[:, j, j] = dj
        if j + 1 < p:
            L[:, j + 1 :, j] = (
                C[:, j + 1 :, j] - np.einsum("bik,bk->bi", L[:, j + 1 :, :j], L[:, j, :j])
            ) / dj[:, None]
    return L * s[:, :, None], ok


def chol_inverse(L: np.ndarray) -> np.ndarray:
    """Inverse of A = L L' from its batched Cholesky factor."""
    B, p, _ = L.shape
    Linv = np.zeros_like(L)
    for i in range(p):
        Linv[:, i, i] = 1.0 / L[:, i, i]
        for j in range(i):
            Linv[:, i, j] = -np.einsum("bk,bk->b", L[:, i, j:i], Linv[:, j:i, j]) / L[:, i, i]
    return np.matmul(Linv.transpose(0, 2, 1), Linv)


def matvec(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("bij,bj->bi", A, v)
