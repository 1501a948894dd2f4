"""Structural check of an SPSS ``.sav`` system file before it is handed to ReadStat.

ReadStat (through pyreadstat) trusts the counts and lengths in a file's dictionary; a damaged
file (a flipped byte in a record length, a label count, a variable type) can make it read past
its buffers and kill the process with a segmentation fault instead of raising an error. So the
dictionary is walked here first, record by record, after the layout of the PSPP documentation
("System File Format", GNU PSPP manual, appendix B), and any count or length that does not fit
the file is reported as an :class:`~ketamine_bzd.errors.IngestError` naming the file and the
byte offset. Data values are not checked here (the reader checks them cell by cell).
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import IngestError

HEADER_SIZE = 176
MAX_LABEL_BYTES = 1 << 16  # far above SPSS's own limits (variable label 256, value label 120)
# extension subtypes whose element size is fixed (PSPP manual, appendix B)
EXTENSION_SIZES = {
    3: (4, 8),
    4: (8, 3),
    11: (4, None),
    13: (1, None),
    14: (1, None),
    20: (1, None),
    21: (1, None),
    22: (1, None),
}


class _Cursor:
    def __init__(self, path: Path, data: bytes, endian: str):
        self.path, self.data, self.pos, self.endian = path, data, HEADER_SIZE, endian
        self.pending = 0  # continuation records (type -1) the last string variable still needs

    def fail(self, what: str):
        raise IngestError(
            self.path, f"damaged SPSS .sav file: {what} (at byte {self.pos}); re-save it from SPSS or PSPP"
        )

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            self.fail(f"{what} runs past the end of the file")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int32(self, what: str) -> int:
        return struct.unpack(self.endian + "i", self.take(4, what))[0]


def check_sav_structure(path: Path, data: bytes) -> None:
    """Raise :class:`IngestError` unless ``data`` has a consistent ``.sav`` dictionary and (for
    an uncompressed file) exactly the data bytes its header announces."""
    if len(data) < HEADER_SIZE:
        raise IngestError(
            path,
            f"damaged SPSS .sav file: {len(data)} bytes, shorter than the {HEADER_SIZE}-byte file header",
        )
    endian = next((e for e in "<>" if struct.unpack(e + "i", data[64:68])[0] in (2, 3)), None)
    if endian is None:
        raise IngestError(path, "damaged SPSS .sav file: unknown layout code in the file header")
    case_size, compression, weight, n_cases = struct.unpack(endian + "4i", data[68:84])
    if compression not in (0, 1, 2):
        raise IngestError(path, f"damaged SPSS .sav file: unknown compression code {compression}")
    c = _Cursor(path, data, endian)
    types: list[int] = []
    while True:
        if c.pos >= len(data):
            c.fail("no end-of-dictionary record")
        rec = c.int32("record type")
        if rec == 2:
            _variable(c, types)
        elif rec == 3:
            _value_labels(c, types)
        elif rec == 6:
            n = c.int32("document line count")
            c.take(80 * n if n >= 0 else -1, "document record")
        elif rec == 7:
            _extension(c, types)
        elif rec == 999:
            c.int32("end-of-dictionary filler")
            break
        else:
            c.pos -= 4
            c.fail(f"unknown dictionary record type {rec}")
    if not types:
        c.fail("no variables")
    if c.pending:
        c.fail("a string variable lacks its continuation records")
    if case_size not in (-1, len(types)):
        c.fail(f"header announces {case_size} case elements but the dictionary has {len(types)}")
    if not (0 <= weight <= len(types)):
        c.fail(f"weight variable index {weight} outside the dictionary")
    if compression == 0 and n_cases >= 0 and len(data) - c.pos != n_cases * len(types) * 8:
        c.fail(
            f"header announces {n_cases} cases ({n_cases * len(types) * 8} data bytes) but "
            f"{len(data) - c.pos} data bytes follow: the file is cut off or padded"
        )


def _variable(c: _Cursor, types: list[int]) -> None:
    vtype, has_label, n_missing = (
        c.int32("variable type"),
        c.int32("label flag"),
        c.int32("missing-value count"),
    )
    c.take(8, "print/write formats")
    name = c.take(8, "variable name")
    if not -1 <= vtype <= 255:
        c.fail(f"variable type {vtype} outside -1..255")
    if vtype == -1:
        if c.pending == 0:
            c.fail("continuation record without a string variable before it")
        c.pending -= 1
    elif c.pending:
        c.fail("a string variable lacks its continuation records")
    else:
        c.pending = (vtype + 7) // 8 - 1 if vtype > 0 else 0
    if has_label not in (0, 1):
        c.fail(f"variable label flag {has_label} is not 0 or 1")
    if n_missing not in (-3, -2, 0, 1, 2, 3) or (vtype > 0 and n_missing < 0):
        c.fail(f"missing-value count {n_missing} not allowed")
    if vtype != -1 and (name[:1] in (b" ", b"\x00") or any(b < 0x20 for b in name)):
        c.fail("variable name is blank or has control characters")
    if has_label:
        n = c.int32("variable label length")
        if not 0 <= n <= MAX_LABEL_BYTES:
            c.fail(f"variable label length {n}")
        c.take((n + 3) // 4 * 4, "variable label")
    c.take(8 * abs(n_missing), "missing values")
    types.append(vtype)


def _value_labels(c: _Cursor, types: list[int]) -> None:
    n = c.int32("value label count")
    if not 0 <= n <= len(c.data) // 9:
        c.fail(f"value label count {n}")
    for _ in range(n):
        c.take(8, "labelled value")
        length = c.take(1, "value label length")[0]
        c.take((length + 1 + 7) // 8 * 8 - 1, "value label")
    if c.int32("value label variables record type") != 4:
        c.pos -= 4
        c.fail("value labels not followed by their variable list (record type 4)")
    count = c.int32("value label variable count")
    if not 1 <= count <= len(types):
        c.fail(f"value labels for {count} variables; the dictionary so far has {len(types)}")
    indices = struct.unpack(c.endian + f"{count}i", c.take(4 * count, "value label variables"))
    kinds = set()
    for i in indices:
        if not 1 <= i <= len(types) or types[i - 1] == -1:
            c.fail(f"value labels point at dictionary index {i}, not a variable")
        kinds.add(types[i - 1] > 0)
    if len(kinds) > 1:
        c.fail("value labels shared by numeric and string variables")


def _extension(c: _Cursor, types: list[int]) -> None:
    subtype, size, count = c.int32("extension subtype"), c.int32("extension size"), c.int32("extension count")
    if size <= 0 or count < 0:
        c.fail(f"extension record {subtype} with element size {size} and count {count}")
    fixed = EXTENSION_SIZES.get(subtype)
    if fixed and (size != fixed[0] or (fixed[1] is not None and count != fixed[1])):
        c.fail(f"extension record {subtype} with element size {size} and count {count}")
    if subtype == 11 and count:
        n_vars = sum(1 for t in types if t != -1)
        if count not in (2 * n_vars, 3 * n_vars):
            c.fail(f"variable display record for {count} values; the dictionary has {n_vars} variables")
    if size * count > len(c.data) - c.pos:
        c.fail(f"extension record {subtype} runs past the end of the file")
    c.take(size * count, f"extension record {subtype}")
