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
from .cohort_kernels import row_positions

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


# Two 64-bit lanes with their own keys: 128 bits per record. A text column's distinct values are
# hashed by pandas' SipHash under the lane's key (16 bytes); any other value is taken by its bits.
_HASH_KEYS = ("ketamine-bzd-rec", "record-identity2")
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_MASK64 = 2**64 - 1
# each lane's seed (the fractional digits of pi, of e); column j's seed is seed * (2j + 3)
_LANE_SEEDS = (0x243F6A8885A308D3, 0xB7E151628AED2A6B)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer (Steele et al. 2014), elementwise on uint64 (wrapping): a
    bijection of 64-bit words in which every output bit depends on every input bit."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _mix_inplace(x: np.ndarray) -> np.ndarray:
    """``_mix(x)``, computed in ``x`` (millions of rows: one temporary, not one per operation)."""
    y = x >> np.uint64(30)
    x ^= y
    x *= _M1
    np.right_shift(x, np.uint64(27), out=y)
    x ^= y
    x *= _M2
    np.right_shift(x, np.uint64(31), out=y)
    x ^= y
    return x


def _seed(lane: int, step: int) -> np.uint64:
    return np.uint64(_LANE_SEEDS[lane] * step & _MASK64)


def _coded(values: pd.Series) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """Text (``str`` or categorical alike) and booleans as codes: each row's code and, per lane,
    the word of each code, equal for equal values. A text's word is the lane's SipHash of the
    text, each distinct text hashed once (the last code: a missing text, the lane's hash of
    none); a boolean's is its value. None for any other dtype (``_value_words``)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype) or _is_text(dtype):
        if isinstance(dtype, pd.CategoricalDtype):
            codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
        else:
            codes, uniques = pd.factorize(values)
        if len(codes) and codes.min() < 0:
            codes = np.where(codes < 0, len(uniques), codes)
        uniques = np.asarray(uniques, dtype=object)
        words = [
            np.append(pd.util.hash_array(uniques, hash_key=key), _mix(np.array([seed], np.uint64)))
            for key, seed in zip(_HASH_KEYS, _LANE_SEEDS)
        ]
        return codes, words
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return values.to_numpy().view(np.int8), [np.array([0, 1], np.uint64)] * 2
    return None


def _value_words(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per lane, one uint64 per row, equal for equal values: floats by their bits, with -0.0 as
    0.0 and every NaN as one NaN; integers by their value; any other dtype (not text or
    boolean, ``_coded``) by pandas' hash of every row."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        x = values.to_numpy(np.float64)
        word = np.where(np.isnan(x), np.nan, x + 0.0).view(np.uint64)  # x + 0.0: -0.0 is 0.0
        return word, word
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        word = values.to_numpy(np.int64).view(np.uint64)
        return word, word
    return tuple(
        pd.util.hash_pandas_object(values, index=False, hash_key=key).to_numpy() for key in _HASH_KEYS
    )


def _is_text(dtype) -> bool:
    return pd.api.types.is_string_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)


def _row_hashes(frame: pd.DataFrame, columns: list[str]) -> list[np.ndarray]:
    """Per lane, one 64-bit hash per row of ``columns``: column by column (text and boolean
    columns first, then the others, each group in the listed order), h = mix(h ^ (word + the
    column's seed)). Each step is a bijection of h, so two rows that differ in one value differ
    in their hash.

    The text and boolean columns have few distinct values: their steps are computed once per
    combination of codes (a table, while the combinations are at most 2^20) and taken by each
    row's combination, the same values as the steps row by row."""
    coded, other = [], []
    for col in columns:
        c = _coded(frame[col])
        if c is None:
            other.append(col)
        else:
            coded.append(c)
    hashes = _coded_steps(coded, len(frame))
    for j, col in enumerate(other, start=len(coded)):
        for lane, (h, word) in enumerate(zip(hashes, _value_words(frame[col]))):
            h ^= word + _seed(lane, 2 * j + 3)
            _mix_inplace(h)
    return hashes


def _coded_steps(coded: list[tuple[np.ndarray, list[np.ndarray]]], n: int) -> list[np.ndarray]:
    """``_row_hashes``' steps over the coded columns, per lane (one hash per row)."""
    sizes = [len(words[0]) for _, words in coded]
    if np.prod(sizes, dtype=float) <= 2**20:
        combination = np.zeros(n, np.int64)
        for (codes, _), size in zip(coded, sizes):
            combination *= size
            combination += codes
        hashes = []
        for lane in range(2):
            table = np.full(1, _seed(lane, 1), dtype=np.uint64)
            for j, (_, words) in enumerate(coded):
                table = _mix((table[:, None] ^ (words[lane] + _seed(lane, 2 * j + 3))[None, :]).ravel())
            hashes.append(table[combination])
        return hashes
    hashes = [np.full(n, _seed(lane, 1), dtype=np.uint64) for lane in range(2)]
    for j, (codes, words) in enumerate(coded):
        for lane, h in enumerate(hashes):
            h ^= words[lane][codes] + _seed(lane, 2 * j + 3)
            _mix_inplace(h)
    return hashes


def _content(frame: pd.DataFrame, columns: list[str], codes: np.ndarray, n_ids: int):
    """Per lane and patient (position in ``ids``): the wrapping sum of its rows' hashes (the
    listed columns but the IDs), so independent of the order of rows; and per patient its
    number of rows. Rows of no patient (code -1) are in no record."""
    totals = []
    for row in _row_hashes(frame, [c for c in columns if c not in _ID_COLUMNS]):
        total = np.zeros(n_ids + 1, dtype=np.uint64)  # the last slot collects code -1
        np.add.at(total, codes, row)
        totals.append(total[:-1])
    return totals, np.bincount(codes + 1, minlength=n_ids + 1)[1:].astype(np.uint64)


def record_signatures(tables: StudyTables) -> pd.Series:
    """A 128-bit hash (32 hex digits) of each patient's full canonical record (subject,
    ratings, medication), by ``patient_id``; independent of the study name, the pseudonym, the
    partition and the order of rows (a multiset hash: the sum of the rows' hashes per patient
    and table, with their count), column-wise.

    Two independent 64-bit lanes (own SipHash keys for the texts, own seeds): each row of a
    table is hashed from its values' words (``_value_words``: a text's distinct values are
    hashed once, numbers taken by their bits) with SplitMix64's finalizer, per column; per
    patient and table the row hashes are summed (wrapping) and mixed with the row count; the
    three tables are chained. Equal records give equal signatures; a changed value changes the
    row's hash (each column step is a bijection) and so the signature, in both lanes. The
    values are not those of earlier versions (an intermediate compared only with each other)."""
    ids = pd.Index(tables.subjects["patient_id"])
    parts = [
        (getattr(tables, name), columns, row_positions(ids, getattr(tables, name)["patient_id"]))
        for name, columns in (
            ("subjects", SUBJECT_COLUMNS),
            ("ratings", RATING_COLUMNS),
            ("medication", MEDICATION_COLUMNS),
        )
    ]
    halves = [np.full(len(ids), _seed(lane, 5), dtype=np.uint64) for lane in range(2)]
    for t, (frame, columns, codes) in enumerate(parts):
        totals, count = _content(frame, columns, codes, len(ids))
        for lane, total in enumerate(totals):
            halves[lane] = _mix(halves[lane] ^ _mix(total + _mix(count + _seed(lane, 7 + 2 * t))))
    return pd.Series(_hex128(*halves), index=ids, dtype=str)


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
