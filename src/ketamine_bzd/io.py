"""Reading and writing the workflow's tables, with the data-source label on every output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .canonical import StudyTables

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
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False, engine="pyarrow", compression="zstd")
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False, lineterminator="\n")
    else:
        raise ValueError(f"unsupported table format: {path}")


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def write_json(obj: dict, path: str | Path, data_source: str | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if data_source is not None:
        obj = {DATA_SOURCE_COLUMN: data_source, **obj}
    path.write_text(json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_study_tables(tables: StudyTables, paths: dict[str, str | Path]) -> None:
    for name in ("subjects", "ratings", "medication"):
        write_table(getattr(tables, name), paths[name])


def read_study_tables(study: str, subjects, ratings, medication) -> StudyTables:
    return StudyTables(
        study=study,
        subjects=read_table(subjects),
        ratings=read_table(ratings),
        medication=read_table(medication),
    )
