"""Drug and dose tables of the template, and the regimen records its stages fill.

Doses are what a prescriber of each study would write: ket2009 recorded mg (clonazepam drops,
0.1 mg per drop); ket2013 prescribed the Czech brands of ``resources/brands_cz.csv`` (tablets in
quarters for the benzodiazepines, whole tablets for the antidepressants). A benzodiazepine
user's exposure is the total mg over the window of study days -1..7 (the paper's diazepam
equivalent is its mean per day), reached with at most one dose change (``schedules``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_DAYS = 9  # study days -1..7


@dataclass
class Regular:
    """A daily regimen over study days -7..7."""

    drug: str
    drug_class: str
    dose_first: float  # mg/day from day -7
    dose_then: float  # mg/day from change_day to day 7
    change_day: int  # 8 = no change


@dataclass
class AsNeeded:
    """A single as-needed dose."""

    drug: str
    drug_class: str
    study_day: int
    dose_mg: float


# Daily benzodiazepine doses a prescriber would write (mg). ket2009 recorded mg (clonazepam
# drops: 0.1 mg per drop); ket2013 prescribed tablets in quarters (Rivotril 0.5 mg -> 0.125 mg
# steps).
# fmt: off
NICE_DOSES = {
    ("ket2009", "clonazepam"): (0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 1.0, 1.25, 1.5, 1.75,
                                2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0),
    ("ket2013", "clonazepam"): (0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0, 1.25, 1.5, 1.75,
                                2.0, 2.25, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0),
    ("ket2009", "alprazolam"): (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0,
                                4.5, 5.0, 6.0),
    ("ket2013", "alprazolam"): (0.25, 0.375, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0,
                                3.5, 4.0, 4.5, 5.0, 6.0),
}
# fmt: on


def schedules(study: str, drug: str) -> dict[float, tuple[float, float, int]]:
    """Window totals (mg over days -1..7) reachable with one dose change, and a schedule each.

    A schedule ``(d1, d2, a)``: ``d1`` on ``a`` window days, ``d2`` on the others; the change
    is at most 0.25 mg or half the lower dose (an adjustment, not a switch). Constant doses
    come first so that a total is realised without a change when it can be.
    """
    doses = NICE_DOSES[(study, drug)]
    out: dict[float, tuple[float, float, int]] = {}
    for d in doses:
        out.setdefault(round(WINDOW_DAYS * d, 6), (d, d, WINDOW_DAYS))
    for d1 in doses:
        for d2 in doses:
            if d1 == d2 or abs(d1 - d2) > max(0.25, 0.5 * min(d1, d2)) + 1e-9:
                continue
            for a in range(1, WINDOW_DAYS):
                out.setdefault(round(a * d1 + (WINDOW_DAYS - a) * d2, 6), (d1, d2, a))
    return dict(sorted(out.items()))


def window_sum(r: Regular) -> float:
    """mg of a regimen over the window, days -1..7."""
    days = np.arange(-1, 8)
    return float(np.where(days < r.change_day, r.dose_first, r.dose_then).sum())


AD_LEVELS = {  # mg/day in whole tablets of the brands in resources/brands_cz.csv
    "sertraline": (50, 100, 150, 200),
    "escitalopram": (10, 20),
    "venlafaxine": (75, 112.5, 150, 187.5, 225, 262.5, 300, 375),
    "mirtazapine": (15, 30, 45, 60),
    "trazodone": (75, 150, 225, 300),
    "bupropion": (150, 300),
    "agomelatine": (25, 50),
    "paroxetine": (20, 40),
    "clomipramine": (75, 100, 125, 150, 200),
    "mianserin": (30, 60, 90),
}
# the 83 antidepressant prescriptions; shares as the paper's Results (sertraline + escitalopram
# 36 %, venlafaxine 28 %, mirtazapine 17 %)
# fmt: off
AD_POOL = (
    ["sertraline"] * 17 + ["escitalopram"] * 13 + ["venlafaxine"] * 23 + ["mirtazapine"] * 14
    + ["trazodone"] * 5 + ["bupropion"] * 3 + ["agomelatine"] * 2 + ["paroxetine"] * 2
    + ["clomipramine"] * 2 + ["mianserin"] * 2
)
MONO_OK = {"sertraline", "escitalopram", "venlafaxine", "paroxetine", "agomelatine", "bupropion", "clomipramine"}
# one drug per family in a combination (no SSRI + SSRI, no venlafaxine + clomipramine, ...)
AD_FAMILY = {
    "sertraline": "ssri", "escitalopram": "ssri", "paroxetine": "ssri",
    "venlafaxine": "snri", "clomipramine": "snri", "mirtazapine": "nassa", "mianserin": "nassa",
    "trazodone": "sari", "bupropion": "ndri", "agomelatine": "mel",
}
# fmt: on
