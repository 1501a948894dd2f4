"""Errors and quarantine records shared by every ingest adapter.

A hard error stops the run with one message naming the file, row, column and value; a soft
problem keeps the row (flagged) or moves it to the quarantine table with its reason, so that
rows read = rows accepted + rows quarantined for every file.

Echoed values are made safe here, in one place: a value longer than ``ECHO_MAX_CHARS`` is cut
(with its length), and a value that could be a patient identifier is never shown (the message
says ``value withheld (looks like an identifier)``). "Could be an identifier" means: it has the
shape of a subject code (``ID_SHAPE``), or the reader says so because it equals or contains one
of the raw identifiers of the export (:meth:`IngestError.withhold_identifiers`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import pandas as pd

QUARANTINE_COLUMNS = ["study", "file", "row", "column", "value", "reason"]
ECHO_MAX_CHARS = 80
WITHHELD = "value withheld (looks like an identifier)"
# Subject-code shapes: letters then digits (K09-001, PAT0042, S_123) or two digit groups joined
# by - _ or / (13-0042). Dates (two separators), decimals, plain numbers, codes with one digit
# (D5) and names with a space ("Neurol 10") do not match, so ordinary values are still shown.
ID_SHAPE = re.compile(r"^[A-Za-z]{1,6}[-_/]?\d{2,}(?:[-_/]\d+)?$|^\d{2,}[-_/]\d{2,}$")
# our own pseudonyms (ketamine_bzd.pseudonym) are safe to show
PSEUDONYM_SHAPE = re.compile(r"^P[0-9a-f]{16}$")


def looks_like_identifier(value) -> bool:
    """True if ``value`` has the shape of a subject code (``ID_SHAPE``)."""
    return value is not None and bool(ID_SHAPE.match(str(value).strip()))


class DeferredIdentifiers(set):
    """The set of a reader's raw identifiers, whose large sources (a file's 10^6 distinct IDs)
    are added only when the set is first used: to withhold an identifier from an error or a
    quarantine record (issue 10: an ingest job that passes never looks at them)."""

    def __init__(self, *args):
        super().__init__(*args)
        self._pending: list[Callable[[], Iterable[str]]] = []

    def defer(self, source: Callable[[], Iterable[str]]) -> None:
        """Add the identifiers ``source()`` gives, at first use."""
        self._pending.append(source)

    def _flush(self) -> None:
        while self._pending:
            set.update(self, self._pending.pop(0)())

    def __contains__(self, value) -> bool:
        self._flush()
        return set.__contains__(self, value)

    def __iter__(self):
        self._flush()
        return set.__iter__(self)

    def __len__(self) -> int:
        self._flush()
        return set.__len__(self)


def add_identifiers(identifiers: set[str], source: Callable[[], Iterable[str]]) -> None:
    """Add the identifiers ``source()`` gives to ``identifiers``: at its first use where it is
    a :class:`DeferredIdentifiers`, now otherwise."""
    if isinstance(identifiers, DeferredIdentifiers):
        identifiers.defer(source)
    else:
        identifiers.update(source())


def contains_identifier(value, identifiers: Collection[str]) -> bool:
    """True if ``value`` equals one of ``identifiers`` or contains one as a whole token."""
    if value is None or not identifiers:
        return False
    text = str(value).strip()
    if text in identifiers:
        return True
    return any(re.search(rf"(?<![0-9A-Za-z]){re.escape(i)}(?![0-9A-Za-z])", text) for i in identifiers if i)


def scrub(text: str, identifiers: Collection[str]) -> str:
    """``text`` with every whole-token occurrence of an identifier replaced by ``(withheld)``."""
    for i in identifiers:
        if i and i in text:
            text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(i)}(?![0-9A-Za-z])", "(withheld)", text)
    return text


def capped(text: str) -> str:
    """``text`` cut to ``ECHO_MAX_CHARS`` characters, saying so and giving its length."""
    if len(text) <= ECHO_MAX_CHARS:
        return repr(text)
    return f"{text[:ECHO_MAX_CHARS]!r}… ({len(text)} characters, first {ECHO_MAX_CHARS} shown)"


def shown_value(value) -> str:
    """How a value appears in a message: capped, or withheld if it looks like an identifier."""
    if looks_like_identifier(value):
        return WITHHELD
    return f"value {capped(value) if isinstance(value, str) else _capped_repr(value)}"


def _capped_repr(value) -> str:
    text = repr(value)
    if len(text) <= ECHO_MAX_CHARS:
        return text
    return f"{text[:ECHO_MAX_CHARS]}… ({len(text)} characters, first {ECHO_MAX_CHARS} shown)"


class IngestError(ValueError):
    """A raw export that cannot be ingested. ``row`` is the 1-based data row (header excluded).

    ``value`` is kept for callers (``None`` once withheld); the message shows it capped, or
    says it was withheld.
    """

    def __init__(self, file, reason, row=None, column=None, value=None):
        self.file, self.reason, self.row, self.column = str(file), reason, row, column
        self.value_withheld = looks_like_identifier(value)
        self.value = None if self.value_withheld else value
        super().__init__(self._message())

    def _message(self) -> str:
        where = [f"file {self.file}"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {capped(str(self.column))}")
        if self.value_withheld:
            where.append(WITHHELD)
        elif self.value is not None:
            where.append(shown_value(self.value))
        return f"{', '.join(where)}: {self.reason}"

    def __str__(self) -> str:
        return self._message()

    def withhold_identifiers(
        self, identifiers: Collection[str], id_columns: Collection[str] = ()
    ) -> IngestError:
        """Withhold the value if it is in an identifier column or contains a raw identifier of
        the export (the reader knows them; the shape test alone misses e.g. plain numbers)."""
        if self.value is not None and (
            self.column in id_columns or contains_identifier(self.value, identifiers)
        ):
            self.value, self.value_withheld = None, True
        if self.column is not None and contains_identifier(self.column, identifiers):
            self.column = "(withheld: looks like an identifier)"
        if self.value_withheld:  # our reason may restate the value (a dose, a total)
            self.reason = scrub(str(self.reason), identifiers)
        self.args = (self._message(),)
        return self


class ResourceError(IngestError):
    """A resource table (``resources/*.csv``: drugs, brands, dose limits, equivalence tables)
    that is malformed; named like an export error (file, 1-based data row, column, value)."""


@dataclass
class Quarantine:
    """Rows excluded at ingest, each with its reason (never silently dropped).

    ``identifiers``: the raw identifiers of the export (filled by the reader); a quarantined
    value equal to or containing one is withheld in :meth:`frame`.
    """

    study: str
    records: list[dict] = field(default_factory=list)
    identifiers: set[str] = field(default_factory=set)

    def add(self, file, row, column, value, reason) -> None:
        if value is not None:
            value = str(value)
            if looks_like_identifier(value) and not PSEUDONYM_SHAPE.match(value):
                value = WITHHELD
            elif len(value) > ECHO_MAX_CHARS:
                value = f"{value[:ECHO_MAX_CHARS]}… ({len(value)} characters)"
        self.records.append(
            {
                "study": self.study,
                "file": str(file),
                "row": int(row),
                "column": column,
                "value": value,
                "reason": reason,
            }
        )

    def count(self, file) -> int:
        return sum(1 for r in self.records if r["file"] == str(file))

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.records, columns=QUARANTINE_COLUMNS).astype({"row": "int64"})
        if len(frame) and self.identifiers:  # (deferred identifiers are added only if needed)
            hidden = frame["value"].map(
                lambda v: (
                    isinstance(v, str)
                    and not PSEUDONYM_SHAPE.match(v)
                    and contains_identifier(v, self.identifiers)
                )
            )
            frame.loc[hidden, "value"] = WITHHELD
        return frame
