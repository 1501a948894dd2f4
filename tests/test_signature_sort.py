"""Record signatures (issue 10): the one-key sort of (patient, row hash) gives exactly the
order of the two-key lexsort it replaces, including rows whose hashes share their leading bits
and codes that are missing (-1)."""

import numpy as np

from ketamine_bzd.provenance import by_patient_then_hash


def _lexsorted(codes, row):
    order = np.lexsort((row, codes))
    return codes[order], row[order]


def _check(codes, row, n_ids):
    got = by_patient_then_hash(codes, row, n_ids)
    want = _lexsorted(codes, row)
    assert (got[0] == want[0]).all() and (got[1] == want[1]).all()


def test_random_rows():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 1000, 20_000)
    row = rng.integers(0, 2**63, 20_000, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    _check(codes, row, 1000)


def test_hashes_that_share_their_leading_bits_and_duplicates():
    codes = np.array([3, 3, 3, 1, 1, 0, 3])
    top = np.uint64(0xABCDEF) << np.uint64(40)
    row = np.array([top | np.uint64(7), top | np.uint64(2), top | np.uint64(7), 5, 5, 9, top], np.uint64)
    _check(codes, row, 4)  # leading bits tied, low bits differ: falls back, same order


def test_missing_codes_and_empty():
    _check(np.array([2, -1, 0, -1]), np.array([4, 3, 2, 1], np.uint64), 3)
    _check(np.zeros(0, np.int64), np.zeros(0, np.uint64), 0)
