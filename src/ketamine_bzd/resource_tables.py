"""Strict reading of the resource tables in ``resources/`` (drug list, Czech brands, maximum
plausible daily doses, dose-equivalence tables).

These tables are data that users extend (a drug, a brand, a sourced equivalence), so a mistake
in them must read like a mistake in an export: one :class:`~ketamine_bzd.errors.ResourceError`
naming file, row (1-based data row; 0 = header), column and value, never a parser traceback.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import ResourceError


@dataclass(frozen=True)
class Column:
    """One column of a resource table. ``kind``: ``text``, ``positive`` (a number > 0) or
    ``choice`` (one of ``choices``). ``required``: an empty cell is an error (``empty``
    overrides the reason)."""

    name: str
    kind: str = "text"
    choices: tuple[str, ...] = ()
    required: bool = True
    empty: str | None = None


def read_resource(path: str | Path, columns: list[Column], key: str | None = None) -> list[dict]:
    """Rows of a UTF-8, comma-separated resource table as dicts (``positive`` columns as float;
    ``_row``: the row number, for messages).

    Checks: the file exists and is UTF-8 text; the header has every column (extra columns are
    allowed); every record has as many fields as the header; required cells are not empty;
    numbers are finite and > 0; choices are allowed; ``key`` values are unique.
    """
    path = Path(path)
    if not path.is_file():
        raise ResourceError(path, "missing resource file")
    data = path.read_bytes()
    if b"\x00" in data:
        raise ResourceError(path, "binary file (NUL bytes), not a UTF-8 CSV table")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start)
        raise ResourceError(path, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", row=row) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ResourceError(path, "empty file: no header line", row=0) from None
    except csv.Error as exc:
        raise ResourceError(path, f"malformed header line: {exc}", row=0) from None
    for col in columns:
        if col.name not in header:
            found = (
                f" (header read as {len(header)} column(s); the delimiter must be ',')"
                if len(header) < 2
                else ""
            )
            raise ResourceError(path, f"missing column{found}", row=0, column=col.name)
    index = {c.name: header.index(c.name) for c in columns}
    rows, seen = [], {}
    try:
        for record in reader:
            row = reader.line_num - 1
            if not any(f.strip() for f in record):
                continue  # blank lines in a hand-edited table carry nothing
            if len(record) != len(header):
                raise ResourceError(
                    path,
                    f"record has {len(record)} fields but the header has {len(header)} "
                    "(quote a text that contains a comma)",
                    row=row,
                )
            out = {"_row": row}
            for col in columns:
                out[col.name] = _cell(path, row, col, record[index[col.name]].strip())
            if key is not None:
                if out[key] in seen:
                    raise ResourceError(
                        path,
                        f"{key} listed twice (also in row {seen[out[key]]})",
                        row=row,
                        column=key,
                        value=out[key],
                    )
                seen[out[key]] = row
            rows.append(out)
    except csv.Error as exc:
        raise ResourceError(path, f"malformed record: {exc}", row=reader.line_num - 1) from None
    if not rows:
        raise ResourceError(path, "no rows: the table has only a header line", row=0)
    return rows


def _cell(path, row, col: Column, text: str):
    if text == "":
        if col.required:
            raise ResourceError(
                path, col.empty or "empty cell (a value is required)", row=row, column=col.name
            )
        return None
    if col.kind == "positive":
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ResourceError(path, "must be a positive number", row=row, column=col.name, value=text)
        return value
    if col.kind == "choice" and text not in col.choices:
        raise ResourceError(
            path, f"must be one of {', '.join(col.choices)}", row=row, column=col.name, value=text
        )
    return text
