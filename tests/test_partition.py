import numpy as np
import pytest

from ketamine_bzd.partition import n_partitions, partition_of


def test_partition_of_is_stable_and_in_range():
    ids = [f"P{i:06d}" for i in range(2000)]
    parts = partition_of(ids, 4)
    assert parts.min() == 0 and parts.max() == 3
    # fixed function of the pseudonym (sha256), not of order or process
    assert np.array_equal(partition_of(ids[::-1], 4), parts[::-1])
    assert partition_of(["P000000"], 4)[0] == int.from_bytes(
        __import__("hashlib").sha256(b"P000000").digest()[:8], "big") % 4
    # roughly uniform: every partition within 20 % of its share
    counts = np.bincount(parts, minlength=4)
    assert (abs(counts - 500) < 100).all(), counts


def test_one_partition_and_bad_counts():
    assert partition_of(["a", "b"], 1).tolist() == [0, 0]
    with pytest.raises(ValueError):
        partition_of(["a"], 0)
    assert n_partitions(47, 250_000) == 1
    assert n_partitions(1_000_000, 250_000) == 4
    assert n_partitions(1_000_001, 250_000) == 5
    assert n_partitions(0, 10) == 1
