import numpy as np
import pytest

from ketamine_bzd.partition import n_partitions, partition_of
from ketamine_bzd.pseudonym import pseudonymize


def _pseudonyms(n):
    return [pseudonymize("s", f"{i:06d}", b"k") for i in range(n)]


def test_partitions_are_ranges_in_pseudonym_order():
    ids = sorted(_pseudonyms(2000))
    parts = partition_of(ids, 4)
    assert parts.min() == 0 and parts.max() == 3
    # sorted pseudonyms -> non-decreasing partitions: concatenating sorted parts is sorted
    assert (np.diff(parts) >= 0).all()
    # a fixed function of the pseudonym: leading 32 bits scaled to K
    assert partition_of(["P" + "c0000000" + "0" * 8], 4)[0] == 3
    assert partition_of(["P" + "3fffffff" + "f" * 8], 4)[0] == 0
    assert partition_of(["P" + "40000000" + "0" * 8], 4)[0] == 1
    counts = np.bincount(parts, minlength=4)
    assert (abs(counts - 500) < 100).all(), counts  # uniform: HMAC digits


def test_one_partition_bad_input_and_counts():
    assert partition_of(_pseudonyms(2), 1).tolist() == [0, 0]
    with pytest.raises(ValueError, match="partition count"):
        partition_of(_pseudonyms(1), 0)
    with pytest.raises(ValueError, match="not a pseudonym"):
        partition_of(["13-0009"], 2)
    assert n_partitions(47, 250_000) == 1
    assert n_partitions(1_000_000, 250_000) == 4
    assert n_partitions(1_000_001, 250_000) == 5
    assert n_partitions(0, 10) == 1
