"""Reading and writing the workflow's tables, with the data-source label on every output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .canonical import StudyTables
from .jsonable import NOT_ESTIMABLE, finite_json

DATA_SOURCE_COLUMN = "data_source"


def label(frame: pd.DataFrame, data_source: str) -> pd.DataFrame:
    """Prepend the ``data_source`` column (e.g. "synthetic ...; not patient data")."""
    out = frame.drop(columns=[DATA_SOURCE_COLUMN], errors="ignore")
    out.insert(0, DATA_SOURCE_COLUMN, data_source)
    return out


def write_table(frame: pd.DataFrame, path: str | Path, data_source: str | None = None) -> None:
    """Parquet or CSV by suffix, without index; same frame -> same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if data_source is not None:
        frame = label(frame, data_source)
    frame = _without_infinity(frame)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False, engine="pyarrow", compression="zstd")
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False, lineterminator="\n")
    else:
        raise ValueError(f"unsupported table format: {path}")


def _without_infinity(frame: pd.DataFrame) -> pd.DataFrame:
    floats = frame.select_dtypes("floating").columns
    # column by column: no 2-D copy of millions of rows
    if any(np.isinf(frame[c].to_numpy()).any() for c in floats):
        # an infinite value is not estimable: an empty cell like NaN (the row's warnings say why)
        frame = frame.assign(**{c: frame[c].where(np.isfinite(frame[c]) | frame[c].isna()) for c in floats})
    return frame


def write_table_from_categories(
    frame: pd.DataFrame, path: str | Path, data_source: str | None = None
) -> None:
    """Parquet as ``write_table(frame.astype({categorical columns: "str"}), path, data_source)``
    reads back (same rows, values, dtypes, Arrow schema and pandas metadata), written from the
    categoricals' codes (``_write_text_from_codes``). The categorical columns must stand for
    text columns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if data_source is not None:
        frame = frame.drop(columns=[DATA_SOURCE_COLUMN], errors="ignore")
        frame.insert(
            0, DATA_SOURCE_COLUMN, pd.Categorical.from_codes(np.zeros(len(frame), np.int8), [data_source])
        )
    _write_text_from_codes(_without_infinity(frame), path, {})


def dataset_files(path: str | Path) -> list[Path]:
    """The files of a Parquet dataset directory in the order of its rows: name order
    (``parts.write_dataset``). An error if it has none."""
    files = sorted(Path(path).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"{path}: a Parquet dataset directory without any .parquet file")
    return files


def read_table(path: str | Path, text_as_categories: bool = False) -> pd.DataFrame:
    """A table written by ``write_table``, or a Parquet dataset directory (``dataset_files``,
    read in their order). ``text_as_categories``: Parquet text columns as categoricals, read
    from the file's dictionary pages (no string per row is built)."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".parquet":
        files = dataset_files(path) if path.is_dir() else [path]
        source = [str(f) for f in files] if path.is_dir() else path
        if text_as_categories:
            import pyarrow as pa
            import pyarrow.parquet as pq

            text = [
                f.name
                for f in pq.read_schema(files[0])
                if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            ]
            return pd.read_parquet(source, read_dictionary=text)
        return pd.read_parquet(source)
    return pd.read_csv(path)


def write_json(
    obj: dict, path: str | Path, data_source: str | None = None, reasons: dict[str, str] | None = None
) -> None:
    """JSON with ``data_source`` first; the one place where NaN and infinity become ``null``.

    Every such value is listed in ``warnings`` as "<path>: not estimable (nan) - <reason>"
    (``finite_json``), so that a quantity that cannot be estimated is never a number and
    never null without a reason. Same object -> same bytes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean, replaced = finite_json(obj, reasons)
    if replaced:
        notes = [f"{r['path']}: {NOT_ESTIMABLE} ({r['value']}) - {r['reason']}" for r in replaced]
        previous = clean.get("warnings") or []
        clean["warnings"] = (previous if isinstance(previous, list) else [previous]) + notes
    if data_source is not None:
        clean = {DATA_SOURCE_COLUMN: data_source, **clean}
    path.write_text(json.dumps(clean, indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_study_tables(
    tables: StudyTables, paths: dict[str, str | Path], metadata: dict[str, str] | None = None
) -> None:
    """The three canonical tables as Parquet; ``metadata`` (e.g. the key fingerprint) is stored
    in each file's schema metadata."""
    for name in ("subjects", "ratings", "medication"):
        if metadata:
            write_parquet_with_metadata(getattr(tables, name), paths[name], metadata)
        else:
            write_table(getattr(tables, name), paths[name])


def write_parquet_with_metadata(frame: pd.DataFrame, path: str | Path, metadata: dict[str, str]) -> None:
    """Parquet as ``write_table``, with extra key/value pairs in the file's schema metadata.
    Categorical columns (of texts) are written from their codes and read back as the text
    columns they stand for (``_write_text_from_codes``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if any(isinstance(dtype, pd.CategoricalDtype) for dtype in frame.dtypes):
        # one row group: each dictionary (a partition's 10^5 pseudonyms) written once, not
        # per 2^20 rows (issue 10: a third less writing, files a third of the size)
        _write_text_from_codes(frame, path, metadata, one_row_group=True)
        return
    table = pa.Table.from_pandas(frame, preserve_index=False)
    extra = {k.encode(): v.encode() for k, v in metadata.items()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    pq.write_table(table, path, compression="zstd")


# Parquet's default dictionary page limit (Arrow's ``dictionary_pagesize_limit``)
DICTIONARY_PAGE_BYTES = 1 << 20


def _write_text_from_codes(
    frame: pd.DataFrame, path: Path, metadata: dict[str, str], one_row_group: bool = False
) -> None:
    """The file written for ``canonical.categories_as_text(frame)`` (with ``metadata`` in the
    schema) in content (rows, values, dtypes, Arrow schema, pandas and extra metadata), written
    from the categoricals' codes: Parquet stores text as dictionary pages anyway, so no string
    per row is built or hashed (issue 10: ingest's ratings and intakes, the cohort's visits and
    intakes, 3·10^7 rows at 10^6 patients). Each dictionary holds the texts in use in order
    of first use, the dictionary a text column's file has, so that a reader of dictionaries
    (the cohort job) gets the same categories from either file."""

    import pyarrow as pa

    categorical = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    # the schema of the text frame (types and pandas metadata do not depend on the rows)
    schema = pa.Schema.from_pandas(
        frame.head(0).astype(dict.fromkeys(categorical, "str")), preserve_index=False
    )
    extra = {k.encode(): v.encode() for k, v in metadata.items()}
    schema = schema.with_metadata({**(schema.metadata or {}), **extra})
    columns, plain = [], []
    for name, field in zip(frame.columns, schema):
        if name in categorical:
            values = frame[name].array
            indices, used = first_seen_codes(np.asarray(values.codes), len(values.categories))
            dictionary = pa.array(values.categories, field.type).take(used)
            columns.append(pa.DictionaryArray.from_arrays(pa.array(indices, mask=indices < 0), dictionary))
            if dictionary.nbytes > DICTIONARY_PAGE_BYTES:
                plain.append(name)
        else:
            columns.append(pa.Array.from_pandas(frame[name], type=field.type))
    table = pa.Table.from_arrays(columns, names=list(frame.columns))
    # min/max statistics of the numbers only: those of millions of coded texts cost a quarter
    # of the writing (issue 10) and no reader filters on them
    numbers = [name for name in frame.columns if name not in categorical]
    # a text column with more distinct texts than a dictionary page holds (the pseudonyms of a
    # registry's partition) is written plain: Parquet would fall back to plain pages after the
    # first megabyte anyway, and the fallback both costs more time and gives a larger file
    # (250,000 patients' intakes: 2.2 -> 1.4 s, 21.6 -> 7.5 MB); the content is the same
    with text_schema_writer(path, table.schema, schema, plain, write_statistics=numbers) as writer:
        writer.write_table(table, row_group_size=max(len(table), 1) if one_row_group else None)


def text_schema_writer(path, written, text_schema, plain: list[str] | tuple = (), **options):
    """A zstd ``ParquetWriter`` of tables with the schema ``written`` (text columns as
    dictionaries) whose file says it holds ``text_schema`` (text columns as text, with its
    pandas and extra metadata): read back, the file is the one written from the text columns.
    ``plain``: columns written without a dictionary; ``options``: more ``ParquetWriter``
    options."""
    import base64

    import pyarrow.parquet as pq

    footer = {
        **(text_schema.metadata or {}),
        b"ARROW:schema": base64.b64encode(text_schema.serialize().to_pybytes()),
    }
    # store_schema=False: the stored Arrow schema is the text one, not the dictionaries'
    writer = pq.ParquetWriter(
        path,
        written,
        compression="zstd",
        store_schema=False,
        use_dictionary=[name for name in written.names if name not in plain],
        **options,
    )
    writer.add_key_value_metadata(footer)
    return writer


def first_seen_codes(codes: np.ndarray, n_categories: int) -> tuple[np.ndarray, np.ndarray]:
    """The codes numbered again in order of first use: each row's new code (int32; -1 stays
    -1) and the old code of each new one (what ``pyarrow.compute.dictionary_encode`` of the
    codes gives, without hashing every row: each code's first row is a minimum per code)."""
    rows = np.arange(len(codes))
    first = np.full(n_categories + 1, len(codes))  # the last slot collects code -1
    np.minimum.at(first, codes, rows)
    first = first[:-1]
    used = np.flatnonzero(first < len(codes))
    used = used[np.argsort(first[used])]
    renumbered = np.full(n_categories + 1, -1, np.int32)
    renumbered[used] = np.arange(len(used), dtype=np.int32)
    return renumbered[codes], used


def read_parquet_metadata(path: str | Path, key: str) -> str | None:
    """One value of a Parquet file's schema metadata (None if absent)."""
    import pyarrow.parquet as pq

    value = (pq.read_schema(path).metadata or {}).get(key.encode())
    return None if value is None else value.decode()


def read_study_tables(
    study: str, subjects, ratings, medication, text_as_categories: bool = False
) -> StudyTables:
    """``text_as_categories``: the ratings' and intakes' text columns as categoricals
    (``read_table``; the large tables, with few distinct scales, visits, drugs and classes);
    the subjects' stay text."""
    return StudyTables(
        study=study,
        subjects=read_table(subjects),
        ratings=read_table(ratings, text_as_categories=text_as_categories),
        medication=read_table(medication, text_as_categories=text_as_categories),
    )
