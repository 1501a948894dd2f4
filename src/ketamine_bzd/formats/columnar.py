"""Column-wise writing of delimited exports: the same bytes as :mod:`csv` row by row, in numpy
and Arrow passes.

A table is written as a list of *coded* columns: integer codes per row into a short list of
distinct values. Each distinct value is formatted, quoted (the rules of ``csv.QUOTE_MINIMAL``)
and encoded once, with the very functions the row-wise writers used (``common.format_number``,
``common.format_date``), so the bytes cannot drift; the rows are then joined by
``pyarrow.compute.binary_join_element_wise`` and written in chunks of rows, so memory stays
bounded by the chunk, not by the table.

Distinct values are found by :func:`factorize`, which first collapses runs of equal neighbours:
long tables (ratings, daily medication) repeat a patient's identifier on consecutive rows, so
only one value per run is hashed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CHUNK_ROWS = 1_000_000  # rows joined per pass: ~50-100 MB of text


@dataclass
class Coded:
    """One output column: ``codes`` (int64 per row, ``-1`` = missing) into ``values``."""

    codes: np.ndarray
    values: list

    def take(self, index: np.ndarray) -> Coded:
        return Coded(self.codes[index], self.values)


def factorize(column) -> Coded:
    """Codes and distinct values of a column (Series, array or list), first-seen order.

    Missing values (None, NaN, NaT) get code ``-1``. For text and float columns, runs of
    equal neighbours are collapsed before hashing (cheap on tables sorted by patient). An
    integer column of small range is coded by its offset: its ``values`` are then the whole
    range, so a function mapped over them must accept any integer in it.
    """
    arr = column.array if isinstance(column, pd.Series) else column
    n = len(arr)
    if n == 0:
        return Coded(np.zeros(0, dtype=np.int64), [])
    text = _as_arrow_text(arr)
    if text is not None:
        change = pc.fill_null(pc.not_equal(text[1:], text[:-1]), True)
        starts = np.concatenate([[0], np.flatnonzero(change.to_numpy(zero_copy_only=False)) + 1])
        run_values = text.take(pa.array(starts)).to_numpy(zero_copy_only=False)
        run_codes, uniques = pd.factorize(run_values, use_na_sentinel=True)
        lengths = np.diff(np.append(starts, n))
        return Coded(np.repeat(run_codes.astype(np.int64), lengths), list(uniques))
    values = np.asarray(arr) if isinstance(arr, (np.ndarray, list)) else None
    if values is not None and values.dtype.kind == "b":
        return Coded(values.astype(np.int64), [np.False_, np.True_])
    if values is not None and values.dtype.kind in "iu":
        lo, hi = int(values.min()), int(values.max())
        if hi - lo <= max(1024, n):  # small range: the offset is the code
            return Coded((values - lo).astype(np.int64), list(np.arange(lo, hi + 1, dtype=values.dtype)))
    if values is not None and values.dtype.kind == "f":
        # runs of equal neighbours first (a dose repeats over the days of a prescription)
        starts = np.concatenate([[0], np.flatnonzero(values[1:] != values[:-1]) + 1])
        run_codes, uniques = pd.factorize(values[starts], use_na_sentinel=True)
        lengths = np.diff(np.append(starts, n))
        return Coded(np.repeat(run_codes.astype(np.int64), lengths), list(uniques))
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    return Coded(codes.astype(np.int64), list(np.asarray(uniques, dtype=object)))


def _as_arrow_text(arr) -> pa.Array | None:
    """``arr`` as an Arrow string array if it holds text (else None)."""
    dtype = getattr(arr, "dtype", None)
    if not (isinstance(dtype, pd.StringDtype) or (dtype is not None and dtype.kind == "O")):
        return None
    try:
        out = pa.array(arr, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed objects: hashed as they are
        return None
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    return out if pa.types.is_string(out.type) or pa.types.is_large_string(out.type) else None


def constant(value, n: int) -> Coded:
    return Coded(np.zeros(n, dtype=np.int64), [value])


def mapped(codes: Coded, fmt: Callable) -> Coded:
    """The same codes with every distinct value passed through ``fmt`` (missing stays -1)."""
    return Coded(codes.codes, [fmt(v) for v in codes.values])


def quote_minimal(text: str, delimiter: str, newline: str = "\r\n") -> str:
    """One field as ``csv.writer(delimiter=..., lineterminator=newline)`` writes it
    (``QUOTE_MINIMAL``; the running Python's own rules, e.g. which line-break characters
    force quotes). Rows here always have several fields, so a lone empty field never occurs."""
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerow([text, ""])
    return buf.getvalue()[: -len(delimiter) - len(newline)]


@dataclass
class Dialect:
    delimiter: str
    newline: str
    encoding: str

    def field(self, text: str) -> bytes:
        return quote_minimal(str(text), self.delimiter, self.newline).encode(self.encoding)

    def encoded(self, values: list) -> pa.Array:
        """``field`` of every value as an Arrow binary array. Values without a delimiter,
        quote or line break (which never need quoting) that are ASCII (or the encoding is
        UTF-8) are cast by Arrow, not quoted and encoded one by one."""
        try:  # all text already (identifiers, formatted numbers): converted in C
            texts = pa.array(values, pa.large_string())
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            texts = pa.array([v if isinstance(v, str) else str(v) for v in values], pa.large_string())
        special = [self.delimiter, '"', "\n", "\r"]
        plain = not any(pc.any(pc.match_substring(texts, c)).as_py() for c in special)
        if plain and (self.encoding == "utf-8" or pc.all(pc.string_is_ascii(texts)).as_py()):
            return texts.cast(pa.large_binary())
        return pa.array([self.field(v) for v in texts.to_pylist()], pa.large_binary())


def write_table(
    path: Path,
    header: Sequence[str],
    columns: Sequence[Coded],
    dialect: Dialect,
    missing: Sequence[str | None] | None = None,
) -> None:
    """Write ``header`` and the rows of ``columns`` (all of one length) to ``path``."""
    with TableFile(path, header, dialect, missing) as table:
        table.append(columns)


class TableFile:
    """A delimited file written part by part: the header once, then the rows of each
    ``append`` (parts of a table written in order give the bytes of the whole).

    Same bytes as ``csv.writer`` with the dialect's delimiter and line terminator,
    ``QUOTE_MINIMAL``, then ``.encode(encoding)``. ``missing[j]``: text of a missing value
    (code -1) in column j; ``None`` = an error, as formatting a missing value would be.
    """

    def __init__(
        self,
        path: Path,
        header: Sequence[str],
        dialect: Dialect,
        missing: Sequence[str | None] | None = None,
        chunk_rows: int = CHUNK_ROWS,
    ):
        self.header, self.dialect, self.chunk_rows = list(header), dialect, chunk_rows
        self.missing = list(missing) if missing is not None else [None] * len(self.header)
        self.fh = open(path, "wb")
        line = dialect.delimiter.join(quote_minimal(h, dialect.delimiter, dialect.newline) for h in header)
        self.fh.write((line + dialect.newline).encode(dialect.encoding))

    def __enter__(self) -> TableFile:
        return self

    def __exit__(self, *exc) -> None:
        self.fh.close()

    def append(self, columns: Sequence[Coded]) -> None:
        n = len(columns[0].codes) if columns else 0
        if n == 0:
            return
        dialect = self.dialect
        dictionaries, codes = [], []
        for j, col in enumerate(columns):
            fill = self.missing[j]
            if fill is None and (col.codes < 0).any():
                raise ValueError(f"column {self.header[j]!r}: missing value with no text for it")
            # the last entry is the text of a missing value (code -1)
            dictionaries.append(dialect.encoded([*col.values, "" if fill is None else fill]))
            codes.append(np.where(col.codes < 0, len(col.values), col.codes))
        sep = pa.scalar(dialect.delimiter.encode(dialect.encoding), pa.large_binary())
        dictionaries, codes = _merge_columns(dictionaries, codes, sep)
        newline = pa.scalar(dialect.newline.encode(dialect.encoding), pa.large_binary())
        empty = pa.scalar(b"", pa.large_binary())
        for start in range(0, n, self.chunk_rows):
            stop = min(start + self.chunk_rows, n)
            parts = [d.take(pa.array(c[start:stop])) for d, c in zip(dictionaries, codes)]
            lines = pc.binary_join_element_wise(*parts, sep) if len(parts) > 1 else parts[0]
            lines = pc.binary_join_element_wise(lines, empty, newline)
            self.fh.write(contiguous(lines))


MERGE_LIMIT = 1 << 22  # largest product of dictionary sizes merged into one column


def _merge_columns(dictionaries: list, codes: list, sep) -> tuple[list, list]:
    """Neighbouring columns with few distinct values joined into one field list per
    distinct combination (with the separator inside), so each row needs fewer takes and
    joins: e.g. day, drug, dose and flag of the daily medication CSV have some 10^4
    combinations over 10^7 rows."""
    groups: list[list[int]] = []
    for j, d in enumerate(dictionaries):
        if (
            groups
            and np.prod([len(dictionaries[i]) for i in groups[-1]], dtype=float) * len(d) <= MERGE_LIMIT
        ):
            groups[-1].append(j)
        else:
            groups.append([j])
    out_d, out_c = [], []
    for group in groups:
        if len(group) == 1:
            out_d.append(dictionaries[group[0]])
            out_c.append(codes[group[0]])
            continue
        key = np.zeros(len(codes[group[0]]), dtype=np.int64)
        for j in group:
            key = key * len(dictionaries[j]) + codes[j]
        key_codes, combos = pd.factorize(key)
        fields = []
        for j in reversed(group):
            fields.append(dictionaries[j].take(pa.array(combos % len(dictionaries[j]))))
            combos = combos // len(dictionaries[j])
        out_d.append(pc.binary_join_element_wise(*reversed(fields), sep))
        out_c.append(key_codes.astype(np.int64))
    return out_d, out_c


def contiguous(arr: pa.Array) -> memoryview:
    """The concatenated values of a null-free (large) binary array, without a copy."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count:
        raise ValueError("null in a joined CSV line")
    _, offsets, data = arr.buffers()
    width = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    off = np.frombuffer(offsets, dtype=width, count=len(arr) + 1 + arr.offset)[arr.offset :]
    return memoryview(data)[int(off[0]) : int(off[-1])]


def positions(keys: Coded, universe: Sequence) -> np.ndarray:
    """Index of each row's key in ``universe`` (distinct keys); KeyError for a key that is
    absent or missing, as the row-wise writers' dictionary look-ups raised."""
    index = pd.Index(list(universe), dtype=object)
    if not index.is_unique:
        raise ValueError("duplicated key in the lookup universe")
    where = index.get_indexer(pd.Index(keys.values, dtype=object)).astype(np.int64)
    if (where < 0).any():
        raise KeyError(keys.values[int(np.flatnonzero(where < 0)[0])])
    if (keys.codes < 0).any():
        raise KeyError(None)
    return where[keys.codes]
