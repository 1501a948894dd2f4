"""Column-wise reading and checking of the delimited exports (issue 10, item 1).

The record-by-record readers cost about 25 µs a row in Python; a registry export of 10^6
patients has tens of millions of rows. Here a file is parsed once by Arrow (``pyarrow.csv``),
each column is dictionary-encoded (the distinct texts of a column are few: codes, dates, doses),
and every check runs once per distinct text or as a numpy mask over all records.

The messages stay those of the record-by-record reader this replaces (the ingest tests pin
them), because they are produced by the same scalar parsers of ``common``: a check is run over
the distinct values to find the bad ones, and the first bad cell in file order (lowest row, then
the order in which the record reader ran its checks) is re-checked with its row to raise the
very same :class:`~ketamine_bzd.errors.IngestError` (:class:`FirstError`).

A file that the fast path cannot read exactly like Python's ``csv`` module does (quote
characters, NUL bytes, bare carriage returns, records with the wrong number of fields, blank
lines) is split by the record reader's own loop instead, so its errors and row numbers are those
of ``csv.reader`` by construction; only the splitting is slower, the checks stay column-wise.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..canonical import MEDICATION_COLUMNS, RATING_COLUMNS, SCALES, VISIT_STUDY_DAY, VISITS
from ..canonical_schemas import has_repeats
from ..errors import DeferredIdentifiers, IngestError, Quarantine, add_identifiers
from ..partition import partition_of
from . import common

# pandas' default text dtype (``str``): the canonical tables' text columns
TEXT = pd.StringDtype(na_value=np.nan)


# ----------------------------------------------------------------------------- columns


# encodings in which the byte 0 is the character U+0000 and never part of another character
_NUL_SEPARABLE = {"cp1250", "utf-8"}


def _decoded(values: list[bytes], encoding: str) -> list[str]:
    """``[v.decode(encoding) for v in values]`` in one ``decode`` call (a registry export has
    millions of distinct IDs and dates): the values joined by NUL and split again; value by
    value when a value holds a NUL, does not decode, or the encoding is another."""
    if codecs.lookup(encoding).name in _NUL_SEPARABLE:
        try:
            parts = b"\0".join(values).decode(encoding).split("\0")
        except UnicodeDecodeError:
            parts = []
        if len(parts) == len(values):
            return parts
    return [v.decode(encoding) for v in values]


def _printable_ends(array: pa.Array) -> bool:
    """Whether every value of a (binary or string) Arrow array begins and ends with a byte
    0x21-0x7e, a printable ASCII character other than space: then ``str.strip`` changes none
    of them (in cp1250 and UTF-8 every whitespace character, and every byte of a non-ASCII
    one, lies outside that range; the empty text has nothing to strip). Read off the offsets
    and bytes, so that a column of 10^6 distinct IDs is not stripped text by text."""
    if array.null_count or not len(array):
        return not array.null_count
    if array.type not in (pa.binary(), pa.string()):
        return False
    _, offsets, data = array.buffers()
    if data is None:  # every value empty
        return True
    offsets = np.frombuffer(offsets, np.int32)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data, np.uint8)
    start, end = offsets[:-1], offsets[1:]
    full = end > start
    ends = np.r_[data[start[full]], data[end[full] - 1]]
    return bool(((ends >= 0x21) & (ends <= 0x7E)).all())


@dataclass
class TextColumn:
    """One column of a file as codes into its distinct (stripped) texts."""

    codes: np.ndarray  # int64, one per record
    uniques: list[str]

    @classmethod
    def from_arrow(cls, array, encoding: str | None = None) -> TextColumn:
        """From an Arrow string column, or a binary one in ``encoding`` (only the distinct
        values are decoded: a field never splits a character of cp1250 or UTF-8)."""
        encoded = array.dictionary_encode()
        chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
        chunks = [c for c in chunks if len(c)]
        if not chunks:
            return cls(np.zeros(0, np.int64), [])
        codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks])
        dictionary = chunks[0].dictionary
        uniques = dictionary.to_pylist()
        if encoding is not None:
            uniques = _decoded(uniques, encoding)
        column = cls(codes, uniques)
        return column if _printable_ends(dictionary) else column.stripped()

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> TextColumn:
        codes, uniques = pd.factorize(pd.Series(list(texts), dtype=object), use_na_sentinel=False)
        return cls(codes.astype(np.int64), [str(u) for u in uniques]).stripped()

    def stripped(self) -> TextColumn:
        """Surrounding whitespace removed as ``str.strip`` does (the record reader's rule)."""
        stripped = [u.strip() for u in self.uniques]
        if stripped == self.uniques:
            return self
        index: dict[str, int] = {}
        remap = np.fromiter(
            (index.setdefault(s, len(index)) for s in stripped), np.int64, count=len(stripped)
        )
        return TextColumn(remap[self.codes] if len(self.codes) else self.codes, list(index))

    def take(self, index: np.ndarray) -> TextColumn:
        return TextColumn(self.codes[index], self.uniques)

    def text(self, i: int) -> str:
        return self.uniques[self.codes[i]]

    def each(self, fn: Callable[[str], object], dtype=object) -> np.ndarray:
        """``fn`` of every record's text, computed once per distinct text."""
        if not self.uniques:
            return np.zeros(len(self.codes), dtype)
        values = np.empty(len(self.uniques), dtype)
        values[:] = [fn(u) for u in self.uniques]
        return values[self.codes]

    def texts(self, fn: Callable[[str], str]):
        """``fn`` of every record's text as a ``str`` array, computed once per distinct text
        and taken by Arrow (no Python string per record, issue 10)."""
        labels = pa.array([fn(u) for u in self.uniques], pa.large_string())
        return pd.array(labels.take(pa.array(self.codes)), dtype=TEXT)

    def isin(self, allowed) -> np.ndarray:
        return self.each(lambda u: u in allowed, bool)

    def equals(self, text: str) -> np.ndarray:
        """Records whose text is ``text`` (one comparison per record, no Python loop)."""
        try:
            return self.codes == self.uniques.index(text)
        except ValueError:
            return np.zeros(len(self.codes), bool)


@dataclass
class Columns:
    """The records of a delimited export, column-wise.

    ``rows``: the file's own row number of each kept record (1 = first data record);
    ``blank``: which records are blank (every field empty); ``n_read``: data records kept
    (blank ones included); ``n_file_records``/``n_file_patients``: of the whole file (a
    partition keeps a part of them).
    """

    file: Path
    rows: np.ndarray
    columns: dict[str, TextColumn]
    blank: np.ndarray
    n_file_records: int
    n_file_nonblank: int = 0
    pseudonyms: list[str | None] = field(default_factory=list)  # per distinct ID text

    @property
    def n_read(self) -> int:
        return len(self.rows)

    def take(self, index: np.ndarray) -> Columns:
        return Columns(
            self.file,
            self.rows[index],
            {k: c.take(index) for k, c in self.columns.items()},
            self.blank[index],
            self.n_file_records,
            self.n_file_nonblank,
            self.pseudonyms,
        )


# bytes that Python's strict cp1250 codec rejects (undefined in Windows-1250)
CP1250_UNDEFINED = (0x81, 0x83, 0x88, 0x90, 0x98)
CHUNK = 1 << 24


def read_columns(
    path,
    role: str,
    columns: list[str],
    *,
    encoding: str,
    delimiter: str,
    id_column: str | None = None,
    identifiers: set[str] | None = None,
) -> Columns:
    """Parse a delimited export strictly; blank records (every field empty) are marked in
    ``Columns.blank`` and left to the caller to quarantine (a partitioned read quarantines them
    once, in partition 0).

    Columns are matched by exact header text (surrounding spaces ignored); extra columns are
    ignored; a missing or duplicated column, a header that splits on another delimiter, a
    record with the wrong number of fields, or a file whose last record has no line terminator
    (cut off) is a hard error. The raw values of ``id_column`` (of the non-blank records) are
    added to ``identifiers`` so that the caller can keep them out of messages.

    Fast path: a file that decodes strictly, has no quote character, NUL or bare carriage
    return and ends with a line terminator is checked at byte level (cp1250 and UTF-8 agree
    with ASCII on every byte those checks look at) and handed to Arrow in UTF-8, never held as
    one Python string. Any other file takes the record reader's own path."""
    path = common.require_file(path, role)
    data = path.read_bytes()
    fast = _fast_bytes(data, encoding)
    if fast is None:
        del data
        return _read_text(path, columns, encoding, delimiter, id_column, identifiers)
    header_line = fast[: fast.index(b"\n")].decode(encoding).rstrip("\r")
    header = [h.strip() for h in header_line.split(delimiter)]
    try:
        _check_header(path, header, header_line + "\n", delimiter, columns)
    except IngestError:
        if _has_bare_cr(fast):  # the text path's error comes first, as it always did
            del data, fast
            return _read_text(path, columns, encoding, delimiter, id_column, identifiers)
        raise
    table = _arrow_table(fast, len(header), delimiter, pa.binary())
    del data, fast
    if table is None:
        return _read_text(path, columns, encoding, delimiter, id_column, identifiers)
    fields = [TextColumn.from_arrow(table.column(i), encoding) for i in range(len(header))]
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    del table
    return _columns(path, header, columns, fields, rows, id_column, identifiers, fast=True)


def _fast_bytes(data: bytes, encoding: str) -> bytes | None:
    """``data`` if every file-level check of ``common.decode_text``, ``check_line_terminator``
    and the header passes and the records can be split without a quote rule, else None (the
    text path then raises or splits exactly). Checked on bytes: cp1250 and UTF-8 agree with
    ASCII on every byte looked at, and the file is never held as one Python string. A bare
    carriage return is looked for in the header line only: in the body Arrow ends a record at
    one, so ``_arrow_table`` finds more records than line feeds and hands the file to the text
    path (two passes over the file saved; a header error yields to it too, ``read_columns``)."""
    if (
        common.sniff_binary(data) is not None
        or b'"' in data
        or b"\x00" in data
        or not data.endswith(b"\n")
        or data.startswith(codecs.BOM_UTF8)
        or _has_bare_cr(data[: data.index(b"\n") + 1])
    ):
        return None
    if encoding == "cp1250":
        if any(bytes([b]) in data for b in CP1250_UNDEFINED):
            return None
        if re.search(rb"[\x80-\xff]", data):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                pass  # not UTF-8: cp1250 as it must be
            else:
                return None
    elif not data.isascii():  # ASCII is UTF-8
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            for i in range(0, len(data), CHUNK):
                decoder.decode(data[i : i + CHUNK], final=i + CHUNK >= len(data))
        except UnicodeDecodeError:
            return None
    header = data[: data.index(b"\n")].decode(encoding)
    return data if header.strip() else None


def _has_bare_cr(data: bytes) -> bool:
    """Whether ``data`` has a carriage return that does not begin a CR LF."""
    return b"\r" in data and data.count(b"\r") != data.count(b"\r\n")


def _read_text(path, columns, encoding, delimiter, id_column, identifiers) -> Columns:
    """The record reader's path: the whole file decoded to text."""
    text = common.decode_text(path, encoding, delimiter, id_column)
    if not text.strip():
        raise IngestError(path, "empty file: no header line", row=0)
    common.check_line_terminator(path, text, delimiter)
    simple = '"' not in text and "\x00" not in text and text.count("\r") == text.count("\r\n")
    if simple:
        header = [h.strip() for h in text[: text.index("\n")].rstrip("\r").split(delimiter)]
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
        except csv.Error as exc:
            raise IngestError(path, f"malformed header line: {exc}", row=0) from None
    _check_header(path, header, text, delimiter, columns)
    table = None
    if simple:
        body = text.encode("utf-8")
        table = _arrow_table(body, len(header), delimiter)
    if table is not None:
        del text
        fields = [TextColumn.from_arrow(table.column(i)) for i in range(len(header))]
        rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
        return _columns(path, header, columns, fields, rows, id_column, identifiers, fast=True)
    fields, rows = _split_records(path, text, header, delimiter, columns, id_column, identifiers)
    return _columns(path, header, columns, fields, rows, id_column, identifiers, fast=False)


def _check_header(path, header, text, delimiter, columns) -> None:
    seen = set()
    for name in header:
        if name and name in seen:
            raise IngestError(path, "duplicated column in header", row=0, column=name)
        seen.add(name)
    for name in columns:
        if name not in seen:
            other = common.sniff_delimiter(text, delimiter, columns)
            if other is not None:
                raise IngestError(
                    path,
                    f"delimiter looks like {other!r} (the header splits into columns on "
                    f"it); this format's delimiter is {delimiter!r}",
                    row=0,
                )
            raise IngestError(path, "missing column", row=0, column=name)


def _columns(path, header, columns, fields, rows, id_column, identifiers, *, fast) -> Columns:
    blank = np.ones(len(rows), bool)
    for col in fields:
        blank &= col.equals("")
    index = {name: header.index(name) for name in columns}
    if fast and identifiers is not None and id_column in index:
        ids = fields[index[id_column]]  # as the record reader: of the non-blank records
        used = np.bincount(ids.codes[~blank], minlength=len(ids.uniques))
        # deferred in an ingest job: needed only for an error or a quarantined row
        add_identifiers(identifiers, lambda: (ids.uniques[c] for c in np.flatnonzero(used)))
    cols = {name: fields[i] for name, i in index.items()}
    return Columns(path, rows, cols, blank, len(rows), int((~blank).sum()))


def _arrow_table(
    data: bytes, n_columns: int, delimiter: str, kind: pa.DataType | None = None
) -> pa.Table | None:
    """Arrow's parse of a UTF-8 file without quotes (header line included), or None if it is
    not one record per line with the header's number of fields (then the record reader's
    loop names the problem)."""
    n_lines = data.count(b"\n")
    names = [f"f{i}" for i in range(n_columns)]
    body = pa.py_buffer(data)[data.index(b"\n") + 1 :]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: kind or pa.string() for n in names},
                strings_can_be_null=False,
                null_values=[],
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    return table if table.num_rows == n_lines - 1 else None


def _split_records(path, text, header, delimiter, columns, id_column, identifiers):
    """Records split by Python's ``csv`` module (strict quoting; row = physical line of the
    record's end), every column's texts kept; a record with the wrong number of fields or
    malformed quoting is an error at its row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    next(reader)
    id_index = header.index(id_column) if id_column in header else None
    texts: list[list[str]] = [[] for _ in header]
    rows = []
    try:
        for record in reader:
            row = reader.line_num - 1
            if all(not f.strip() for f in record):
                rows.append(row)
                for t in texts:
                    t.append("")
                continue
            if identifiers is not None and id_index is not None and id_index < len(record):
                identifiers.add(record[id_index].strip())
            if len(record) != len(header):
                raise IngestError(
                    path,
                    f"record has {len(record)} fields but the header has {len(header)} "
                    f"(delimiter must be {delimiter!r})",
                    row=row,
                )
            rows.append(row)
            for t, f in zip(texts, record):
                t.append(f)
    except csv.Error as exc:
        raise IngestError(path, f"malformed record: {exc}", row=reader.line_num - 1) from None
    return [TextColumn.from_texts(t) for t in texts], np.asarray(rows, dtype=np.int64)


# ----------------------------------------------------------------------------- patients


def pseudonymize_ids(table: Columns, id_column: str, pseudo: common.Pseudonyms) -> Columns:
    """Pseudonym of every distinct ID text, once (``None`` for an empty ID)."""
    table.pseudonyms = pseudonyms_of(table.columns[id_column].uniques, pseudo)
    return table


def pseudonyms_of(uniques: list[str], pseudo: common.Pseudonyms) -> list[str | None]:
    """The pseudonym of each distinct (stripped) ID text, ``None`` for the empty one; computed
    and looked up column-wise (``Pseudonyms.array``), shared by every file of a study."""
    texts = np.array(uniques + [None], object)[:-1]  # 1-d, of str
    named = texts != ""
    pseudonyms = np.full(len(texts), None, object)
    pseudonyms[named] = pseudo.array(texts[named])
    return pseudonyms.tolist()


def pseudonymize_and_partition(
    table: Columns, id_column: str, pseudo: common.Pseudonyms, count: int
) -> np.ndarray:
    """``pseudonymize_ids`` and ``partitions_of_ids`` of its pseudonyms in one: the partition
    of each distinct ID text (0 for the empty one), each pseudonym's partition computed once
    for all the files of the study (``Pseudonyms.array_and_partitions``)."""
    table.pseudonyms, parts = pseudonyms_and_partitions(table.columns[id_column].uniques, pseudo, count)
    return parts


def pseudonyms_and_partitions(
    uniques: list[str], pseudo: common.Pseudonyms, count: int
) -> tuple[list[str | None], np.ndarray]:
    """``pseudonyms_of(uniques, pseudo)`` and ``partitions_of_ids`` of them."""
    texts = np.array(uniques + [None], object)[:-1]  # 1-d, of str
    named = texts != ""
    pseudonyms = np.full(len(texts), None, object)
    parts = np.zeros(len(texts), np.int64)
    if named.any():
        pseudonyms[named], parts[named] = pseudo.array_and_partitions(texts[named], count)
    return pseudonyms.tolist(), parts


def in_partition(
    pseudonyms: list[str | None], codes: np.ndarray, partition: tuple[int, int] | None
) -> np.ndarray | None:
    """Which records (by ID code) belong to ``partition`` = (index, count), or None for all.

    A record without a usable ID (blank, unparseable) belongs to partition 0, so that it is
    reported exactly once."""
    if partition is None:
        return None
    index, count = partition
    if not 0 <= index < count:
        raise ValueError(f"partition index {index} outside 0..{count - 1}")
    known = [i for i, p in enumerate(pseudonyms) if p is not None]
    part = np.zeros(len(pseudonyms), np.int64)
    if known:
        part[known] = partition_of([pseudonyms[i] for i in known], count)
    return part[codes] == index if len(codes) else np.zeros(0, bool)


def select(
    table: Columns, id_column: str, pseudo, partition, quarantine: Quarantine, parts: np.ndarray | None = None
) -> Columns:
    """Pseudonymize the ID column, keep the partition's records, quarantine blank ones.

    ``parts``: the partition of each distinct ID text (``partitions_of_ids``), when the
    caller already has them (a table decoded once for every partition, :class:`Decoded`)."""
    if parts is None:
        pseudonymize_ids(table, id_column, pseudo)
        keep = in_partition(table.pseudonyms, table.columns[id_column].codes, partition)
    else:
        codes = table.columns[id_column].codes
        keep = parts[codes] == partition[0] if len(codes) else np.zeros(0, bool)
    if keep is not None:
        table = table.take(np.flatnonzero(keep))
    for row in table.rows[table.blank]:
        quarantine.add(table.file, int(row), None, None, "blank line")
    return table


def partitions_of_ids(pseudonyms: list[str | None], count: int) -> np.ndarray:
    """The partition of each distinct ID (by its pseudonym; 0 for an ID without one), so that a
    record's partition is ``parts[codes]`` (one numpy take per partition, no pseudonym parsed
    twice)."""
    part = np.zeros(len(pseudonyms), np.int64)
    known = [i for i, p in enumerate(pseudonyms) if p is not None]
    if known:
        part[known] = partition_of([pseudonyms[i] for i in known], count)
    return part


class Decoded:
    """A study's files decoded and pseudonymized once, for every partition's read.

    One ingest job writes all K partitions of a study (``ingest.ingest_partitions``): each raw
    file is parsed by Arrow once, its ID column pseudonymized once and each distinct ID's
    partition computed once; every partition's read then takes its records from the cached
    columns (the file-level checks ran once, at decoding). ``count``: K. An adapter calls
    :meth:`get` with a function that decodes (and pseudonymizes) on the first call.
    ``text_as_categories``: the partitions' tables keep their text columns as categoricals
    (``common.result``)."""

    def __init__(self, count: int, text_as_categories: bool = False):
        self.count = count
        self.text_as_categories = text_as_categories
        self._cache: dict[str, tuple] = {}

    def get(self, name: str, decode: Callable[[], tuple]) -> tuple:
        """``decode()`` the first time ``name`` is asked for, the same value after that."""
        if name not in self._cache:
            self._cache[name] = decode()
        return self._cache[name]

    def drop(self, name: str) -> None:
        """Forget ``name`` (after the last partition has used it: memory)."""
        self._cache.pop(name, None)


class PatientIndex(dict):
    """Pseudonym -> position of each of ``patients`` (a partition's patients, in file order),
    with the pandas index that ``patient_codes`` looks them up in, built once for every file
    of the partition."""

    def __init__(self, patients: list[str]):
        super().__init__(zip(patients, range(len(patients))))

    @cached_property
    def pandas_index(self) -> pd.Index | None:
        return patients_pandas_index(self)


def patients_pandas_index(patients: dict[str, int]) -> pd.Index | None:
    """The patients as a ``pd.Index`` when each has its own position (no pseudonym twice)."""
    known = pd.Index(list(patients), dtype=object)
    return known if known.is_unique and list(patients.values()) == list(range(len(patients))) else None


def patient_codes(table: Columns, id_column: str, patients: dict[str, int]) -> np.ndarray:
    """Index of each record's patient in the patients file, -1 if not there (or no ID)."""
    if isinstance(patients, PatientIndex):
        known = patients.pandas_index
    else:
        known = patients_pandas_index(patients)
    codes = table.columns[id_column].codes
    if known is not None:
        # one hash lookup in C per distinct ID of these records only: the file's distinct IDs
        # (10^6 at registry scale) are shared by every partition, each uses a K-th of them
        used = np.flatnonzero(np.bincount(codes, minlength=len(table.pseudonyms))) if len(codes) else codes
        per_unique = np.full(len(table.pseudonyms) + 1, -1, np.int32)
        names = np.array(table.pseudonyms + [None], object)[used]
        per_unique[used] = known.get_indexer(pd.Index(names, dtype=object))
    else:
        per_unique = np.array(
            [patients.get(p, -1) if p is not None else -1 for p in table.pseudonyms] or [-1], np.int32
        )
    return per_unique[table.columns[id_column].codes] if table.n_read else np.zeros(0, np.int32)


def pseudonym_array(table: Columns, id_column: str) -> np.ndarray:
    values = np.array(table.pseudonyms + [None], dtype=object)
    return values[table.columns[id_column].codes]


# ----------------------------------------------------------------------------- checks


def error_of(fn: Callable, *args, **kwargs) -> IngestError:
    """The :class:`IngestError` that ``fn(*args, **kwargs)`` raises (it must raise one)."""
    try:
        fn(*args, **kwargs)
    except IngestError as err:
        return err
    raise AssertionError(f"{getattr(fn, '__name__', fn)} accepted the value it rejected before")


class FirstError:
    """The first failing check in file order, as the record reader would have raised it.

    Checks are added in the order the record reader ran them within a record, each as a mask
    over the records (True = this check fails here, given that the earlier ones passed) and a
    function building the error for a record index. The error raised is that of the lowest
    failing record and, within it, of the earliest check."""

    def __init__(self):
        self.first: tuple[int, Callable[[int], IngestError]] | None = None

    def add(self, mask: np.ndarray, build: Callable[[int], IngestError]) -> None:
        limit = len(mask) if self.first is None else self.first[0]
        hits = np.flatnonzero(mask[:limit])
        if hits.size:
            self.first = (int(hits[0]), build)

    def failing(self, n: int) -> np.ndarray:
        """Records at or after the first failing one (their later checks are moot)."""
        out = np.zeros(n, bool)
        if self.first is not None:
            out[self.first[0] :] = True
        return out

    def raise_first(self) -> None:
        if self.first is not None:
            index, build = self.first
            raise build(index)


@dataclass
class Parsed:
    """``fn`` of every distinct text of a column: the value, or a failure (IngestError)."""

    column: TextColumn
    values: list  # per distinct text; None where it failed
    failed_u: np.ndarray

    @property
    def failed(self) -> np.ndarray:
        return (
            self.failed_u[self.column.codes] if len(self.failed_u) else np.zeros(len(self.column.codes), bool)
        )

    def map(self, fn: Callable[[object], object], dtype) -> np.ndarray:
        """``fn`` of every record's value (None where empty or failed), once per distinct text."""
        if not self.values:
            return np.zeros(len(self.column.codes), dtype)
        out = np.empty(len(self.values), dtype)
        out[:] = [fn(v) for v in self.values]
        return out[self.column.codes]

    def floats(self) -> np.ndarray:
        return self.map(lambda v: np.nan if v is None else float(v), np.float64)

    def ordinals(self) -> np.ndarray:
        """Dates as proleptic ordinals (day numbers); 0 where empty or failed."""
        return self.map(lambda v: 0 if v is None else v.toordinal(), np.int64)


def parse(column: TextColumn, fn: Callable[[str], object]) -> Parsed:
    """Run ``fn`` once per distinct text of ``column``; an :class:`IngestError` marks it failed."""
    values, failed = [], []
    for u in column.uniques:
        try:
            values.append(fn(u))
            failed.append(False)
        except IngestError:
            values.append(None)
            failed.append(True)
    return Parsed(column, values, np.array(failed, bool))


def duplicated(key: np.ndarray) -> np.ndarray:
    """True for every record whose key was seen in an earlier record."""
    if not has_repeats(key):  # the usual case, ten times cheaper than hashing every key
        return np.zeros(len(key), bool)
    return pd.Series(key).duplicated(keep="first").to_numpy()


def first_with(key: np.ndarray, i: int) -> int:
    """Index of the first record with the key of record ``i``."""
    return int(np.flatnonzero(key[: i + 1] == key[i])[0])


def py_round(values: np.ndarray, digits: int) -> np.ndarray:
    """Python's (correctly rounded) ``round`` element-wise, once per distinct value."""
    if not len(values):
        return values.astype(np.float64)
    # Where numpy's rounding (rint(x * 10^d) / 10^d) gives x back, x already is the double
    # nearest to a d-decimal number, and so is Python's round(x, d): x itself. Only the
    # others (sums of several doses) go through Python, once per distinct value.
    values = np.asarray(values, np.float64)
    out = values.copy()
    need = np.flatnonzero(np.round(values, digits) != values)
    if len(need):
        inverse, uniq = pd.factorize(values[need])
        out[need] = np.array([round(float(u), digits) for u in uniq], np.float64)[inverse]
    return out


def sorted_groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, first): the stable sort of ``key`` (record order kept within a key) and, in
    that order, True where a new key starts."""
    order = np.argsort(key, kind="stable")
    sk = key[order]
    return order, np.r_[True, sk[1:] != sk[:-1]] if len(sk) else np.zeros(0, bool)


def running_totals(order: np.ndarray, first: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running total per key (groups from :func:`sorted_groups`) in record order, in the
    sorted order, added left to right exactly as a dict accumulator does (so the floats are
    the record reader's to the last bit)."""
    out = np.asarray(values, np.float64)[order]
    vals = out.copy()
    done = first.copy()  # positions whose running total is final
    todo = np.flatnonzero(~first)
    while todo.size:  # one pass per position within a key (a few: overlapping doses)
        ready = done[todo - 1]
        sel = todo[ready]
        out[sel] = out[sel - 1] + vals[sel]
        done[sel] = True
        todo = todo[~ready]
    return out


def key_of(*parts: np.ndarray) -> np.ndarray:
    """One int64 key from several non-negative integer columns (mixed radix)."""
    bases = [int(np.max(p)) + 1 if len(p) else 1 for p in parts]
    dtype = np.int32 if math.prod(bases) < 2**31 else np.int64  # half the memory and sort time
    key = np.zeros(len(parts[0]), dtype)
    for p, base in zip(parts, bases):
        key = key * dtype(base) + np.asarray(p, dtype)
    return key


# ----------------------------------------------------------------------------- assembly


def text_labels(column: pd.Series) -> pd.Index:
    """A ``str`` column as the labels of ``coded_categories`` (no text converted again: a
    partition's 10^5 pseudonyms label both its ratings and its intakes)."""
    return pd.Index(column.astype(TEXT))


def coded_categories(codes: np.ndarray, labels: list[str] | pd.Index) -> pd.Categorical:
    """The text column of ``labels[codes]`` as a categorical (no string per row is built):
    ``labels`` may repeat a text (the drug classes of the drugs), the categories do not.
    ``canonical.categories_as_text`` gives the ``str`` column."""
    codes = np.asarray(codes)
    categories = (
        labels if isinstance(labels, pd.Index) and labels.dtype == TEXT else pd.Index(labels, dtype=TEXT)
    )
    if not categories.is_unique:
        remap, categories = pd.factorize(categories)  # in order of first appearance
        codes = remap[codes]
    return pd.Categorical.from_codes(codes, categories, validate=False)


def ratings_table(
    study: str,
    patients: list[str] | pd.Index,
    patient: np.ndarray,
    scale: np.ndarray,
    visit: np.ndarray,
    score: np.ndarray,
    day: np.ndarray,
) -> pd.DataFrame:
    """``common.ratings_frame`` column-wise: every scale x visit row of every patient (file
    order); observed ratings (patient, scale, visit index arrays) with score and study day.
    Text columns are categoricals (``coded_categories``; ``common.result`` makes them text
    unless the caller keeps the codes)."""
    n, ns, nv = len(patients), len(SCALES), len(VISITS)
    k = ns * nv
    pos = np.asarray(patient, np.int64) * k + np.asarray(scale, np.int64) * nv + np.asarray(visit, np.int64)
    days = np.tile(np.array([VISIT_STUDY_DAY[v] for v in VISITS], np.int64), n * ns)
    scores = np.full(n * k, np.nan)
    observed = np.zeros(n * k, np.int64)
    days[pos], scores[pos], observed[pos] = day, score, 1
    frame = pd.DataFrame(
        {
            "patient_id": coded_categories(np.repeat(np.arange(n), k), patients),
            "study": coded_categories(np.zeros(n * k, np.int64), [study]),
            "scale": coded_categories(np.tile(np.repeat(np.arange(ns), nv), n), list(SCALES)),
            "visit": coded_categories(np.tile(np.arange(nv), n * ns), list(VISITS)),
            "study_day": days,
            "score": scores,
            "status": coded_categories(observed, ["missing", "observed"]),
        }
    )
    return frame[RATING_COLUMNS]


def sorted_codes(codes: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes into ``names`` recoded into the sorted names (so code order = name order)."""
    ordered = sorted(names)
    remap = np.array([ordered.index(n) for n in names] or [0], np.int64)
    return remap[np.asarray(codes, np.int64)], ordered


def medication_table(
    study: str,
    patients: list[str] | pd.Index,
    patient: np.ndarray,
    day: np.ndarray,
    drug: np.ndarray,
    drug_names: list[str],
    dose: np.ndarray,
    as_needed: np.ndarray,
    drugs: dict[str, str],
) -> pd.DataFrame:
    """``common.medication_frame`` column-wise: daily totals per (patient, day, drug,
    as_needed) of the records (patient index, day, drug code into ``drug_names``, dose,
    as_needed) in record order, sorted by patient file order, drug, as_needed, day. Text
    columns are categoricals, as in ``ratings_table``."""
    patient = np.asarray(patient)
    day = np.asarray(day)
    as_needed = np.asarray(as_needed, bool)
    drug_code, names = sorted_codes(drug, drug_names)
    day0 = day - day.min() if len(day) else day
    # the key orders as the table is sorted: patient, drug, as_needed, day
    key = key_of(patient, drug_code, as_needed.astype(np.int64), day0)
    sort, starts = sorted_groups(key)
    del key
    totals = running_totals(sort, starts, dose)
    # a key's total is its last running total
    last = np.r_[starts[1:], True] if len(starts) else starts
    order = sort[last]
    totals = totals[last]
    frame = pd.DataFrame(
        {
            "patient_id": coded_categories(patient[order], patients),
            "study": coded_categories(np.zeros(len(order), np.int64), [study]),
            "study_day": day[order].astype(np.int64),
            "drug": coded_categories(drug_code[order], names),
            "drug_class": coded_categories(drug_code[order], [drugs[d] for d in names]),
            "dose_mg": py_round(totals, 9),
            "as_needed": as_needed[order],
        }
    )
    return frame[MEDICATION_COLUMNS]


def daily_limit_check(
    first: FirstError,
    file,
    column: str,
    texts: TextColumn,
    record: np.ndarray,
    patient: np.ndarray,
    day: np.ndarray,
    drug: np.ndarray,
    drug_names: list[str],
    dose: np.ndarray,
    limits: common.DoseLimits,
    check: np.ndarray,
    rows: np.ndarray,
    n_records: int,
    candidates: np.ndarray | None = None,
) -> None:
    """``DoseLimits.add_daily`` column-wise: running daily totals per (patient, day, drug)
    over the daily doses in record order (``record`` = index of the record each belongs to);
    the first total above the plausible maximum is an error at the record that pushed it
    over (only elements flagged in ``check`` are checked: earlier files' doses count too)."""
    if not len(record):
        return
    drug = np.asarray(drug, np.int64)
    # ``candidates``: the doses that can share a day with another one (the caller knows, e.g.
    # overlapping prescriptions); a dose alone on its day passed ``check_record`` (the same
    # comparison, earlier in its record). Selected first: the key orders and groups the
    # candidates as it does among all doses
    if candidates is not None:
        idx = np.flatnonzero(candidates)
        if not len(idx):
            return
        patient, dose, record, day, drug, check = (
            np.asarray(a)[idx] for a in (patient, dose, record, day, drug, check)
        )
    key = key_of(patient, drug, np.asarray(day, np.int64) - int(np.min(day)))
    sort, starts = sorted_groups(key)
    totals = np.empty(len(key))
    totals[sort] = running_totals(sort, starts, dose)
    limit = np.array([limits.limits[d][0] for d in drug_names], np.float64)[drug]
    over = check & (totals > limit + 1e-9)
    if not over.any():
        return
    mask = np.zeros(n_records, bool)
    mask[record[over]] = True

    def build(i):
        j = np.flatnonzero(over & (record == i))[0]
        return limits.error(
            file,
            int(rows[i]),
            column,
            texts.text(i),
            drug_names[drug[j]],
            float(totals[j]),
            f"with this record the daily total on study day {int(day[j])}, of",
        )

    first.add(mask, build)


def each_partition(
    read_one: Callable[[set[str], tuple[int, int], Decoded], object],
    count: int,
    id_columns: tuple[str, ...],
    text_as_categories: bool = False,
) -> Iterator:
    """``read_one(identifiers, (k, count), decoded)`` for k = 0 .. count-1, sharing one
    :class:`Decoded`, so that the raw files are decoded once (a format's ``read_partitions``).
    A raised :class:`IngestError` withholds every raw identifier seen in ``id_columns``."""
    identifiers: set[str] = DeferredIdentifiers()
    decoded = Decoded(count, text_as_categories)
    for index in range(count):
        try:
            result = read_one(identifiers, (index, count), decoded)
        except IngestError as err:
            raise err.withhold_identifiers(identifiers, id_columns) from None  # no chained raw ids
        yield result
