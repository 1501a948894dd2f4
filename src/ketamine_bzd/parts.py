"""Partitioned ingest and cohort (issue 10): selecting a partition, and joining the partitions.

Ingest and the cohort run once per partition of patients (``partition.partition_of``); this
module holds what is done at either end of that fan-out:

- ``select_partition``: the rows of one partition from an adapter's whole-file result (for
  adapters that do not select rows themselves, see ``ingest``), with the quarantine, the
  soft-problem lines and the per-file counts split so that they sum over partitions to the
  file's;
- ``combine_reports``, ``combine_quarantine``, ``combine_soft_problems``: the per-partition QC
  tables summed into one (the ``ingest_report`` rule);
- ``shared_records_of``: records shared between studies, judged on every partition at once
  (a shared record has another pseudonym in each study, so its copies are in different
  partitions; see ``provenance``);
- ``write_merged_parquet``: per-partition Parquet files streamed, row group by row group, into
  one file (the ``cohort_merge`` rule: the patients), so that memory does not grow with the cohort;
- ``write_dataset``: per-partition Parquet files as one Parquet dataset (the ``cohort_merge``
  rule: the visits and intakes, tens of millions of rows at registry scale), copied as they are
  unless rows must be dropped.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .canonical import StudyTables
from .errors import PSEUDONYM_SHAPE
from .io import first_seen_codes, text_schema_writer
from .partition import partition_of
from .soft_problems import SOFT_PROBLEM_COLUMNS

if TYPE_CHECKING:
    from .formats.common import IngestResult

# rows per row group of a merged cohort table (bounds the merge's memory)
ROW_GROUP_ROWS = 1 << 18
COUNT_COLUMNS = ["rows_read", "rows_accepted", "rows_quarantined"]
SIGNATURE_COLUMNS = ["study", "patient_id", "signature"]
_PSEUDONYM_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])P[0-9a-f]{16}(?![0-9A-Za-z])")
_EXAMPLE_ROW = re.compile(r" row (\d+)$")


# ----------------------------------------------------------------------------- ingest side


def _partition_of_text(texts: Sequence, pattern: re.Pattern, count: int) -> np.ndarray:
    """Partition of the pseudonym each text holds (``pattern``), 0 for a text without one."""
    found = [m[0] if isinstance(t, str) and (m := pattern.search(t)) else None for t in texts]
    out = np.zeros(len(found), dtype=np.int64)
    have = [i for i, p in enumerate(found) if p is not None]
    if have:
        out[have] = partition_of([found[i] for i in have], count)
    return out


def select_partition(result: IngestResult, part: int, count: int) -> IngestResult:
    """The patients of partition ``part`` of ``count`` from a whole-file ``result``.

    Tables keep the partition's patients (row order kept). A quarantined row or a soft-problem
    line belongs to the partition of the pseudonym it names, or to partition 0 if it names none
    (e.g. a blank line); a file's accepted rows are counted under partition 0 (the reader does
    not say which patient each raw row was), so that for every file and partition rows_read =
    accepted + quarantined, and each count summed over partitions is the file's.
    """
    # imported here: the formats (and pyreadstat) are ingest's; the cohort jobs use this module too
    from .formats.common import IngestResult

    if not 0 <= part < count:
        raise ValueError(f"partition {part} is not one of 0..{count - 1}")
    t = result.tables
    ids = t.subjects["patient_id"]
    keep = set(ids[partition_of(ids, count) == part]) if len(ids) else set()

    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["patient_id"].isin(keep)].reset_index(drop=True)

    tables = StudyTables(t.study, rows(t.subjects), rows(t.ratings), rows(t.medication))
    q = result.quarantine
    value_is_pseudonym = q["value"].map(lambda v: isinstance(v, str) and bool(PSEUDONYM_SHAPE.match(v)))
    q_part = _partition_of_text(q["value"].where(value_is_pseudonym), PSEUDONYM_SHAPE, count)
    quarantine = q[q_part == part].reset_index(drop=True)
    w_part = _partition_of_text(result.warnings, _PSEUDONYM_IN_TEXT, count)
    warnings = [w for w, p in zip(result.warnings, w_part) if p == part]
    report = result.report.copy()
    quarantined = quarantine["file"].value_counts()
    report["rows_quarantined"] = report["file"].map(quarantined).fillna(0).astype("int64")
    if part != 0:
        report["rows_accepted"] = 0
    report["rows_read"] = report["rows_accepted"] + report["rows_quarantined"]
    report = report.astype({c: "int64" for c in COUNT_COLUMNS})
    return IngestResult(tables, quarantine, report, warnings)


def combine_reports(reports: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One row per (study, file): the partitions' counts summed, other columns (sha256, key
    fingerprint) taken once; an error if the partitions disagree on them."""
    from .formats.common import REPORT_COLUMNS

    frame = pd.concat(reports, ignore_index=True)
    rows = []
    for (study, file), group in frame.groupby(["study", "file"], sort=False):
        row = group.iloc[0].copy()
        for col in frame.columns.difference([*REPORT_COLUMNS, *COUNT_COLUMNS], sort=False):
            values = group[col].dropna().unique()
            if len(values) > 1:
                raise ValueError(
                    f"ingest partitions of study {study}, file {file} disagree on {col} "
                    f"({', '.join(map(str, values))}): rerun ingest (snakemake --forcerun ingest)"
                )
        row[COUNT_COLUMNS] = group[COUNT_COLUMNS].sum()
        rows.append(row)
    out = pd.DataFrame(rows, columns=frame.columns).reset_index(drop=True)
    return out.astype({c: "int64" for c in COUNT_COLUMNS})


def combine_quarantine(frames: Sequence[pd.DataFrame], n_partitions: int) -> pd.DataFrame:
    """The partitions' quarantine tables; with more than one partition, in file order (study,
    file as first listed, row), as one whole-file read would list them."""
    frame = pd.concat(frames, ignore_index=True)
    if n_partitions == 1 or frame.empty:
        return frame
    order = {
        col: frame[col].map({v: i for i, v in enumerate(frame[col].drop_duplicates())})
        for col in ("study", "file")
    }
    keys = pd.DataFrame({"study": order["study"], "file": order["file"], "row": frame["row"]})
    return frame.loc[keys.sort_values(["study", "file", "row"], kind="stable").index].reset_index(drop=True)


def _example_row(example: str) -> float:
    m = _EXAMPLE_ROW.search(str(example))
    return int(m[1]) if m else float("inf")


def combine_soft_problems(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Counts per study and kind summed over partitions; the example is the earliest row."""
    frame = pd.concat(frames, ignore_index=True)
    rows = []
    for study in frame["study"].drop_duplicates():
        of_study = frame[frame["study"] == study]
        for kind, group in sorted(of_study.groupby("kind", sort=False), key=lambda kv: kv[0]):
            rows_at = group["example"].map(_example_row)
            example = group["example"].iloc[int(np.argmin(rows_at.to_numpy()))]
            rows.append([kind, study, int(group["count"].sum()), example])
    return pd.DataFrame(rows, columns=SOFT_PROBLEM_COLUMNS).astype({"count": "int64"})


# ----------------------------------------------------------------------------- cohort side


def shared_records_of(signatures: pd.DataFrame, studies: Sequence[str]) -> pd.DataFrame:
    """``provenance.shared_records`` from the record signatures of every partition.

    ``signatures``: ``study``, ``patient_id``, ``signature`` (``provenance.record_signatures``)
    in partition order. A record whose signature was first seen (studies in ``studies`` order)
    in another study is a later copy: one row each with ``study``, ``patient_id``,
    ``first_study``, ``first_patient_id``.
    """
    columns = ["study", "patient_id", "first_study", "first_patient_id"]
    if not signatures["signature"].duplicated().any():
        # every record is seen once (the usual case): no copies, without sorting and joining
        # a registry's records
        none = signatures.iloc[:0]
        return pd.DataFrame(
            {
                "study": none["study"],
                "patient_id": none["patient_id"],
                "first_study": none["study"],
                "first_patient_id": none["patient_id"],
            }
        )
    rank = {s: i for i, s in enumerate(studies)}
    sig = signatures.assign(_rank=signatures["study"].map(rank)).sort_values("_rank", kind="stable")
    first = sig.drop_duplicates("signature")[["signature", "study", "patient_id"]].rename(
        columns={"study": "first_study", "patient_id": "first_patient_id"}
    )
    joined = sig.merge(first, on="signature", how="left", sort=False)
    later = joined[joined["first_study"] != joined["study"]]
    return later[columns].reset_index(drop=True)


def _unified_schema(files):
    """The one schema of all parts (a column all null in one part takes the others' type),
    with the schema metadata (pandas dtypes, key fingerprint) of the first part that has rows."""
    import pyarrow as pa

    schemas = [f.schema_arrow for f in files]
    unified = pa.unify_schemas(schemas, promote_options="permissive")
    with_rows = [f for f in files if f.metadata.num_rows] or files
    return unified.with_metadata(with_rows[0].schema_arrow.metadata)


def _is_text(dtype) -> bool:
    import pyarrow as pa

    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype)


def _as_dictionaries(schema, plain: Sequence[str] = ()):
    """``schema`` with every text column but those in ``plain`` as a dictionary of strings (as
    Parquet's own dictionary pages are read with ``read_dictionary``)."""
    import pyarrow as pa

    text = pa.dictionary(pa.int32(), pa.string())
    return pa.schema([f.with_type(text) if _is_text(f.type) and f.name not in plain else f for f in schema])


def _first_seen_dictionary(column):
    """A dictionary column as one chunk whose dictionary holds exactly the values used, in
    order of first use: the same array however the rows were chunked (number of partitions,
    row groups read), so the file written from it does not depend on them."""
    import pyarrow as pa

    if column.num_chunks != 1:
        column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return pa.chunked_array([pa.array([], column.type)])
    dictionary = column.chunk(0).dictionary
    codes = pa.concat_arrays([c.indices for c in column.chunks]).fill_null(-1).to_numpy()
    # the codes numbered again in order of first use (a null stays null), as ingest and the
    # cohort jobs number theirs
    indices, used = first_seen_codes(codes, len(dictionary))
    return pa.chunked_array(
        [pa.DictionaryArray.from_arrays(pa.array(indices, mask=indices < 0), dictionary.take(used))]
    )


def _canonical_chunks(table):
    """``table`` with one chunk per column and first-seen dictionaries (``_first_seen_dictionary``)."""
    import pyarrow as pa

    columns = [
        _first_seen_dictionary(c)
        if pa.types.is_dictionary(c.type)
        else pa.chunked_array([c.combine_chunks()], c.type)
        for c in table.columns
    ]
    return pa.Table.from_arrays(columns, schema=table.schema)


def _equal_mask(column, value):
    """``column == value`` for a dictionary column: compared once per dictionary entry."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa.chunked_array(
        [pc.take(pc.equal(c.dictionary, value), c.indices) for c in column.chunks], pa.bool_()
    )


def _in_mask(column, values):
    """``column`` in ``values`` for a dictionary column: looked up once per dictionary entry."""
    import pyarrow as pa
    import pyarrow.compute as pc

    value_set = pa.array(sorted(values), type=pa.string())
    if not pa.types.is_dictionary(column.type):
        return pc.is_in(column, value_set=value_set)
    return pa.chunked_array(
        [pc.take(pc.is_in(c.dictionary, value_set=value_set), c.indices) for c in column.chunks],
        pa.bool_(),
    )


def _drop_mask(table, drop: dict[str, set[str]]):
    """True for the rows of ``table`` that are in ``drop`` (study -> patient ids)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = pa.array(np.zeros(table.num_rows, dtype=bool))
    for study, ids in drop.items():
        hit = pc.and_(_equal_mask(table["study"], study), _in_mask(table["patient_id"], ids))
        mask = pc.or_(mask, hit)
    return mask


def write_merged_parquet(
    sources: Sequence[str | Path],
    dest: str | Path,
    studies: Sequence[str] | None = None,
    drop: pd.DataFrame | None = None,
    schema=None,
    unique_text: Sequence[str] = (),
) -> int:
    """Stream the per-partition Parquet files ``sources`` (in partition order) into ``dest``,
    one row group at a time; returns the rows written.

    ``studies``: write study by study in this order, each with the partitions in order (for
    tables sorted by study, then patient_id); ``None``: the partitions in order (tables sorted
    by patient_id). ``drop``: rows (``study``, ``patient_id``) to leave out (shared records).
    ``schema``: the Arrow schema to write (default: the one schema of ``sources``).
    ``unique_text``: text columns with a distinct value in (nearly) every row, such as the
    patients' pseudonyms: read and written as plain text, not dictionaries (a dictionary as long
    as its column only costs the time to build it).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # text columns are read as Parquet stores them, dictionary-encoded, and written back as
    # dictionaries (no decoding of millions of strings and re-hashing them to encode again);
    # the file says they are the parts' text columns: same content, dtypes and metadata
    files = [
        pq.ParquetFile(
            s,
            read_dictionary=[
                f.name
                for f in pq.ParquetFile(s).schema_arrow
                if _is_text(f.type) and f.name not in unique_text
            ],
        )
        for s in sources
    ]
    if schema is None:
        schema = _unified_schema([pq.ParquetFile(s) for s in sources])
    encoded = _as_dictionaries(schema, unique_text)
    drops = {}
    if drop is not None and len(drop):
        drops = {s: set(g["patient_id"]) for s, g in drop.groupby("study", sort=False)}
    written, pending = 0, []

    def flush(writer, final=False):
        # row groups of exactly ROW_GROUP_ROWS rows (the last one shorter), wherever the
        # partitions end: the same file for any number of partitions
        table = pa.concat_tables(pending)
        pending.clear()
        whole = table.num_rows if final else table.num_rows - table.num_rows % ROW_GROUP_ROWS
        for start in range(0, whole, ROW_GROUP_ROWS):
            writer.write_table(_canonical_chunks(table.slice(start, min(ROW_GROUP_ROWS, whole - start))))
        if whole < table.num_rows:
            pending.append(table.slice(whole))

    # the Arrow schema stored is the parts' (text columns as text, pandas metadata), not that
    # of the dictionaries written: read back, the file is the one written from text columns
    with text_schema_writer(dest, encoded, schema, unique_text) as writer:
        for study in studies if studies is not None else [None]:
            for f in files:
                for i in range(f.num_row_groups):
                    table = f.read_row_group(i).cast(encoded)
                    if study is not None:
                        table = table.filter(_equal_mask(table["study"], study))
                    if drops and table.num_rows:
                        table = table.filter(pc.invert(_drop_mask(table, drops)))
                    if table.num_rows:
                        pending.append(table)
                        written += table.num_rows
                        if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                            flush(writer)
        if pending:
            flush(writer, final=True)
    return written


def dataset_file_names(count: int) -> list[str]:
    """The names of a dataset's ``count`` files, whose name order is their rows' order
    (zero-padded, so that any reader that sorts the names, as Arrow's discovery does, reads
    the rows in order)."""
    width = max(5, len(str(count - 1)))
    return [f"part-{i:0{width}d}.parquet" for i in range(count)]


def _rows_to_drop(path: Path, drops: dict[str, set[str]]) -> bool:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["study", "patient_id"], read_dictionary=["study", "patient_id"])
    return table.num_rows > 0 and pc.any(_drop_mask(table, drops)).as_py()


def write_dataset(sources: Sequence[str | Path], dest: str | Path, drop: pd.DataFrame | None = None) -> int:
    """The per-partition Parquet files ``sources`` (in the order of the table's rows) as the
    Parquet dataset ``dest``: a directory of one file per source, named so that their name
    order is that order (``dataset_file_names``); returns the rows written.

    A file is copied as it is, unless it has rows of ``drop`` (``study``, ``patient_id``:
    shared records), or its schema differs from the others' (e.g. a column all null in an
    empty partition): then it is written again (``write_merged_parquet``) without those rows,
    in the one schema of all the files (with the pandas metadata of the first file that has
    rows), so that the dataset reads as one table. Any file
    already in ``dest`` is removed first.
    """
    import pyarrow.parquet as pq

    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    files = [pq.ParquetFile(s) for s in sources]
    schema = _unified_schema(files) if files else None
    drops = {}
    if drop is not None and len(drop):
        drops = {s: set(g["patient_id"]) for s, g in drop.groupby("study", sort=False)}
    written = 0
    for source, f, name in zip(sources, files, dataset_file_names(len(files))):
        if f.schema_arrow.equals(schema, check_metadata=True) and not (
            drops and _rows_to_drop(Path(source), drops)
        ):
            shutil.copyfile(source, dest / name)
            written += f.metadata.num_rows
        else:
            written += write_merged_parquet([source], dest / name, drop=drop, schema=schema)
    return written
