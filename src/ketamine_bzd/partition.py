"""Partitions of patients: which ingest/cohort job handles which patient (issue 10).

A patient's partition is a fixed function of their pseudonym (``P`` + 16 hex digits of an HMAC,
so uniform): partition ``p`` of ``K`` holds the pseudonyms whose leading 32 bits ``h`` satisfy
``floor(h * K / 2**32) == p``. Two consequences the workflow relies on:

- every file of every study sends a patient to the same partition, and a partition's rows can
  be selected right after the ID column is pseudonymized, before any other validation;
- partitions are contiguous ranges in pseudonym order, so concatenating per-partition tables
  sorted by ``patient_id`` in partition order gives the table sorted by ``patient_id``
  (the merged cohort equals the unpartitioned one row for row).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np

from .pseudonym import PSEUDONYM_PREFIX

_PSEUDONYM = re.compile(re.escape(PSEUDONYM_PREFIX) + "[0-9a-f]{16}")


def partition_of(pseudonyms: Iterable[str], count: int) -> np.ndarray:
    """The partition index (0 .. count-1) of each pseudonym (see module doc)."""
    if count < 1:
        raise ValueError(f"partition count must be >= 1, got {count}")
    values = list(pseudonyms)
    for v in values:
        if not isinstance(v, str) or not _PSEUDONYM.fullmatch(v):
            raise ValueError(f"not a pseudonym: {v!r} (expected {PSEUDONYM_PREFIX} + 16 hex digits)")
    start = len(PSEUDONYM_PREFIX)
    lead = np.fromiter((int(v[start : start + 8], 16) for v in values), dtype=np.uint64, count=len(values))
    return ((lead * np.uint64(count)) >> np.uint64(32)).astype(np.int64)


def n_partitions(n_patients: int, patients_per_partition: int) -> int:
    """How many partitions ``n_patients`` need at ``patients_per_partition`` each (at least 1)."""
    if patients_per_partition < 1:
        raise ValueError(f"patients_per_partition must be >= 1, got {patients_per_partition}")
    return max(1, math.ceil(n_patients / patients_per_partition))
