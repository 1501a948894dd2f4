"""What each result was built from: raw-file checksums, the pseudonymization key's fingerprint,
and the identity of patient records across studies.

- ``checksum.file_sha256``: the SHA-256 of a raw export, recorded per file in the ingest report and the
  cohort's provenance table (a changed checksum, not a changed mtime, is what reruns ingest).
- ``check_one_key``: the cohort merges only studies pseudonymized with the same key, known by
  its fingerprint (``pseudonym.key_fingerprint``), which ingest stores in each Parquet file.
- ``shared_records``: the same patient record configured under two studies (e.g. one export
  listed twice). Pseudonyms differ between studies by design (the study is part of the keyed
  hash), so identity is judged on the record's content: the subject row (every canonical column
  but ``patient_id``/``study``) with all its ratings and medication days, hashed (128 bits,
  ``record_signatures``) in the cohort step. Raw identifiers are never involved. With partitioned cohort jobs (issue 10) the copies
  of a shared record are in different partitions (their pseudonyms differ), so each partition's
  job writes its records' hashes (``results/cohort/parts/part-*/record_signatures.parquet``, an
  intermediate file) and ``cohort_merge`` compares them over all partitions
  (``parts.shared_records_of``). Records of one
  patient exported in two *different* formats need not be identical and are not detected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .canonical import MEDICATION_COLUMNS, RATING_COLUMNS, SUBJECT_COLUMNS, StudyTables

KEY_FINGERPRINT_METADATA = "ketamine_bzd.key_fingerprint"
_ID_COLUMNS = ("patient_id", "study")


def check_one_key(fingerprints: dict[str, str | None]) -> str:
    """The one key fingerprint of all studies; an error naming them if they differ or lack one."""
    missing = sorted(s for s, f in fingerprints.items() if not f)
    if missing:
        raise ValueError(
            f"ingest output of {', '.join(missing)} records no pseudonymization key fingerprint "
            "(written by an older version); rerun ingest: snakemake --forcerun ingest"
        )
    distinct = sorted(set(fingerprints.values()))
    if len(distinct) > 1:
        listing = ", ".join(f"{s}: {f}" for s, f in fingerprints.items())
        raise ValueError(
            "studies were pseudonymized with different keys (key fingerprints "
            f"{listing}); their pseudonyms cannot be merged. Keep one key (KETAMINE_BZD_KEY or "
            "the pseudonymization_key_file) and rerun every study's ingest: "
            "snakemake --forcerun ingest"
        )
    return distinct[0]


# Two SipHash keys of pandas' hash_pandas_object (16 bytes each): 128 bits per record.
_HASH_KEYS = ("ketamine-bzd-rec", "record-identity2")
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer (Steele et al. 2014), elementwise on uint64 (wrapping)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _patient_codes(ids: pd.Index, patient_id: pd.Series) -> np.ndarray:
    """Position in ``ids`` of each row's patient (-1 if absent): the distinct pseudonyms are
    looked up once (a registry table has ~20 rows per patient), not every row."""
    codes, uniques = pd.factorize(patient_id)
    return np.append(ids.get_indexer(uniques), -1)[codes]


def by_patient_then_hash(codes: np.ndarray, row: np.ndarray, n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` and ``row`` in the order of ``np.lexsort((row, codes))`` (patient, then row hash).

    One integer sort instead of a two-key lexsort (3x faster on millions of intakes): the
    patient code in the top bits of one 64-bit key, the hash's leading bits below it. Rows of a
    patient that share those leading bits but differ in the rest (about one in 2^45 pairs)
    would be out of order, so then, as for a missing code, the lexsort is used."""
    bits = max(int(n_ids).bit_length(), 1)
    if bits < 64 and len(codes) and codes.min() >= 0:
        packed = (codes.astype(np.uint64) << np.uint64(64 - bits)) | (row >> np.uint64(bits))
        order = np.argsort(packed)
        packed, out_codes, out_row = packed[order], codes[order], row[order]
        tied = packed[1:] == packed[:-1]
        if not (tied & (out_row[1:] != out_row[:-1])).any():
            return out_codes, out_row
    order = np.lexsort((row, codes))
    return codes[order], row[order]


def _content(
    frame: pd.DataFrame, columns: list[str], ids: pd.Index, key: str, codes: np.ndarray | None = None
) -> np.ndarray:
    """One 64-bit hash per patient of ``ids``: the multiset of its rows (listed columns but the
    IDs), independent of row order. Rows are hashed column-wise (pandas' SipHash), sorted per
    patient, and combined with their rank; a patient without rows gets the hash of none.
    ``codes``: ``_patient_codes(ids, frame["patient_id"])`` if already computed."""
    cols = [c for c in columns if c not in _ID_COLUMNS]
    out = np.zeros(len(ids), dtype=np.uint64)
    if frame.empty:
        return _mix(out)
    if codes is None:
        codes = _patient_codes(ids, frame["patient_id"])
    row = pd.util.hash_pandas_object(frame[cols], index=False, hash_key=key).to_numpy()
    codes, row = by_patient_then_hash(codes, row, len(ids))
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    sizes = np.diff(np.r_[starts, len(codes)])
    rank = np.arange(len(codes)) - np.repeat(starts, sizes)
    terms = _mix(row + _mix(rank.astype(np.uint64) + np.uint64(1)))
    out[codes[starts]] = np.add.reduceat(terms, starts)
    counts = np.zeros(len(ids), dtype=np.uint64)
    counts[codes[starts]] = sizes.astype(np.uint64)
    return _mix(out ^ _mix(counts))


def record_signatures(tables: StudyTables) -> pd.Series:
    """A 128-bit hash (32 hex digits) of each patient's full canonical record (subject,
    ratings, medication), by ``patient_id``; independent of the study name, the pseudonym and
    the order of rows. Computed column-wise (no loop over rows or patients)."""
    ids = pd.Index(tables.subjects["patient_id"])
    codes = {
        name: _patient_codes(ids, getattr(tables, name)["patient_id"])
        for name in ("subjects", "ratings", "medication")
    }
    # text as categoricals once: pandas hashes a categorical's categories, not every row, and
    # the hash is that of the values (so the same signatures); both keys reuse them
    subjects, ratings, medication = (
        _text_as_categories(tables.subjects),
        _text_as_categories(tables.ratings),
        _text_as_categories(tables.medication),
    )
    halves = []
    for key in _HASH_KEYS:
        h = _content(subjects, SUBJECT_COLUMNS, ids, key, codes["subjects"])
        h = _mix(h + _content(ratings, RATING_COLUMNS, ids, key, codes["ratings"]))
        halves.append(_mix(h + _content(medication, MEDICATION_COLUMNS, ids, key, codes["medication"])))
    return pd.Series(_hex128(*halves), index=ids, dtype=str)


def _text_as_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its text columns (but the IDs, which are not hashed) as categoricals."""
    text = [
        c
        for c in frame.columns
        if c not in _ID_COLUMNS
        and pd.api.types.is_string_dtype(frame[c].dtype)
        and not isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]
    return frame.assign(**{c: pd.Categorical.from_codes(*pd.factorize(frame[c])) for c in text})


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex128(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """``f"{high:016x}{low:016x}"`` for each pair of uint64, column-wise."""
    words = np.stack([high, low], axis=1).astype(">u8").view(np.uint8).reshape(-1, 16)
    digits = np.stack([words >> 4, words & 15], axis=2).reshape(-1, 32)
    return _HEX_DIGITS[digits].view("S32").ravel().astype(str)


def shared_records(studies: list[StudyTables]) -> pd.DataFrame:
    """Patient records that appear in more than one study: one row per later copy with
    ``study``, ``patient_id`` (pseudonym), ``first_study``, ``first_patient_id``."""
    seen: dict[str, tuple[str, str]] = {}
    rows = []
    for tables in studies:
        for pid, sig in record_signatures(tables).items():
            if sig in seen and seen[sig][0] != tables.study:
                rows.append((tables.study, pid, *seen[sig]))
            else:
                seen.setdefault(sig, (tables.study, pid))
    return pd.DataFrame(rows, columns=["study", "patient_id", "first_study", "first_patient_id"])


def _declared(overlapping: list[list[str]], a: str, b: str) -> bool:
    return any(a in group and b in group for group in overlapping)


def resolve_shared_records(
    studies: list[StudyTables], overlapping: list[list[str]] | None = None
) -> tuple[list[StudyTables], pd.DataFrame]:
    """Refuse records shared between studies, unless the config declares those studies
    overlapping (``overlapping_studies``): then each shared record is kept once, in the study
    listed first, and the dropped copies are returned (study, patient_id, kept as ...)."""
    shared = check_shared_records(shared_records(studies), overlapping)
    if shared.empty:
        return studies, shared
    out = []
    for tables in studies:
        drop = set(shared.loc[shared["study"] == tables.study, "patient_id"])
        keep = {
            name: frame[~frame["patient_id"].isin(drop)].reset_index(drop=True)
            for name, frame in (
                ("subjects", tables.subjects),
                ("ratings", tables.ratings),
                ("medication", tables.medication),
            )
        }
        out.append(StudyTables(study=tables.study, **keep))
    return out, shared


def check_shared_records(shared: pd.DataFrame, overlapping: list[list[str]] | None = None) -> pd.DataFrame:
    """``shared`` (from ``shared_records``) if every pair of studies in it is declared
    overlapping (``overlapping_studies``), else an error naming the studies and an example."""
    overlapping = overlapping or []
    undeclared = shared[
        [not _declared(overlapping, s, f) for s, f in zip(shared["study"], shared["first_study"])]
    ]
    if len(undeclared):
        pairs = undeclared.groupby(["first_study", "study"]).size()
        listing = "; ".join(f"{n} of study {b} also in study {a}" for (a, b), n in pairs.items())
        first = undeclared.iloc[0]
        raise ValueError(
            f"the same patient records appear in two studies ({listing}; e.g. {first.patient_id} "
            f"of {first.study} = {first.first_patient_id} of {first.first_study}): is one export "
            "configured twice? If these studies really share patients, list them together under "
            "overlapping_studies in the config (each shared record is then counted once)"
        )
    return shared
