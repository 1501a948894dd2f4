"""The generator's running sums stay equal to the reference statistics after many steps.

The MADRS follow-up search (``synthetic._followup``) changes one score at a time and reads the
group x time F and the per-visit t statistics from running sums; after a few hundred changes
they must still be what ``stats.rm_anova`` and ``stats.descriptives.compare_groups`` compute
from the scores themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ketamine_bzd.stats.descriptives import compare_groups
from ketamine_bzd.stats.rm_anova import rm_anova
from ketamine_bzd.synthetic._fit import Target, check_targets, violation, violation_of
from ketamine_bzd.synthetic._followup import FollowupSums

VISITS = ["madrs_day0", "madrs_day1", "madrs_day3", "madrs_day7"]


def test_followup_sums_track_rm_anova_and_t_tests():
    rng = np.random.default_rng(11)
    n = 47
    bzd_plus = np.zeros(n, dtype=bool)
    bzd_plus[rng.choice(n, 13, replace=False)] = True
    y = np.column_stack([rng.integers(12, 40, n), rng.integers(0, 45, (n, 3))]).astype(float)
    sums = FollowupSums(y, bzd_plus)
    for _ in range(300):
        i, t = int(rng.integers(n)), int(rng.integers(3))
        sums.change(i, t, float(rng.integers(0, 45)))
    scores = sums.y
    frame = pd.DataFrame(scores, columns=VISITS).assign(patient_id=range(n), bzd_plus=bzd_plus)
    ref = rm_anova(frame, subject="patient_id", group="bzd_plus", columns=VISITS, groups=[True, False])
    assert sums.f() == pytest.approx(ref.group_x_time.f, rel=1e-9)
    for t, visit in enumerate(VISITS[1:]):
        frame[f"rel_{visit}"] = 1 - frame[visit] / frame["madrs_day0"]
        t_raw = compare_groups(frame, visit, "bzd_plus", groups=[True, False], test="t").statistic
        t_rel = compare_groups(frame, f"rel_{visit}", "bzd_plus", groups=[True, False], test="t").statistic
        assert sums.t_raw(t) == pytest.approx(t_raw, rel=1e-9)
        assert sums.t_rel(t) == pytest.approx(t_rel, rel=1e-9)


def test_violation_is_zero_exactly_when_the_printed_values_round():
    t = Target.printed(np.arange(3), "2.0", "1.0")
    assert violation_of(t, np.array([1.0, 2.0, 3.0])) == 0.0  # mean 2, SD 1
    off = violation_of(t, np.array([1.0, 2.0, 3.3]))  # mean 2.1, SD 1.15
    assert off > 0
    assert off == violation(t, 3, 6.3, 1 + 4 + 3.3**2)
    assert check_targets(np.array([1.0, 2.0, 3.3]), [t]) == {"": off}
