"""Partitions of patients: which ingest/cohort job handles which patient (issue 10).

A patient's partition is a fixed function of their pseudonym, so every file of a study (and
every study) sends a patient to the same partition, and a partition's rows can be selected
right after the ID column is read, before any other validation.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import numpy as np


def partition_of(pseudonyms: Iterable[str], count: int) -> np.ndarray:
    """The partition index (0 .. count-1) of each pseudonym.

    The first 8 bytes of the SHA-256 of the pseudonym, modulo ``count``: stable across
    platforms and library versions, and uniform for any ``count``. With ``count == 1`` every
    patient is in partition 0.
    """
    if count < 1:
        raise ValueError(f"partition count must be >= 1, got {count}")
    values = list(pseudonyms)
    if count == 1:
        return np.zeros(len(values), dtype=np.int64)
    digests = np.fromiter(
        (int.from_bytes(hashlib.sha256(v.encode()).digest()[:8], "big") % count for v in values),
        dtype=np.int64,
        count=len(values),
    )
    return digests


def n_partitions(n_patients: int, patients_per_partition: int) -> int:
    """How many partitions ``n_patients`` need at ``patients_per_partition`` each (at least 1)."""
    if patients_per_partition < 1:
        raise ValueError(f"patients_per_partition must be >= 1, got {patients_per_partition}")
    return max(1, math.ceil(n_patients / patients_per_partition))
