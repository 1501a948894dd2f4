"""Figure 2's groups are dodged: at every visit their CI bars sit apart (issue 12)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ketamine_bzd import figures as f
from ketamine_bzd.analysis import add_groups

DATA = Path(__file__).parent / "reference" / "data"


def test_figure2_groups_do_not_overlap():
    patients = add_groups(pd.read_csv(DATA / "paper_shaped.csv"), 8)
    posthoc = pd.DataFrame(
        {
            "analysis": "simple_effect_madrs",
            "time": ["day0", "day1", "day3", "day7"],
            "p_bonferroni": [1.0, 0.5, 0.04, 0.0004],
        }
    )
    fig = f.madrs_course_figure(patients, posthoc, "study exports")
    ax = fig.axes[0]
    # the mean lines and the caps of each group share their x positions
    xs = sorted({tuple(np.round(np.asarray(line.get_xdata(), float), 9)) for line in ax.lines})
    assert len(xs) == 2
    gap = np.abs(np.asarray(xs[0], float) - np.asarray(xs[1], float))
    assert np.allclose(gap, f.FIGURE2_DODGE_DAYS)
    # the gap in display units exceeds the width of the caps (3 pt each side = 6 pt)
    to_px = ax.transData.transform
    px = np.abs(to_px(np.c_[xs[0], np.zeros(4)])[:, 0] - to_px(np.c_[xs[1], np.zeros(4)])[:, 0])
    cap_px = 6 * fig.dpi / 72
    assert np.all(px > cap_px), (px, cap_px)
