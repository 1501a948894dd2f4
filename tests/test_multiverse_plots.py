"""The specification curve stays readable at thousands of specifications (multiverse.plots)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from ketamine_bzd.multiverse import plots
from ketamine_bzd.multiverse.grid import DIMENSIONS

JOINT = {
    "n_specifications": 6000,
    "n_permutations": 1000,
    "statistics": {
        "share_significant": {"permutation_p": 0.012},
        "median_z": {"permutation_p": 0.034},
        "stouffer_z": {"permutation_p": 0.002},
    },
}


def _specs(n: int, seed: int = 3) -> pd.DataFrame:
    """``n`` made-up binary-exposure specifications on the OR scale over 7 dimensions."""
    rng = np.random.default_rng(seed)
    est = np.exp(rng.normal(0.8, 1.0, n))
    half = np.exp(rng.uniform(0.3, 3.0, n))
    frame = pd.DataFrame({d: rng.choice([f"{d}_{k}" for k in range(3)], n) for d in DIMENSIONS})
    z = np.log(est) / (np.log(half) / 1.96)
    from scipy import stats

    frame = frame.assign(
        spec_id=[f"s{i}" for i in range(n)],
        exposure_kind="cutoff",
        effect_scale="odds ratio (nonresponse)",
        estimate=est,
        ci_low=est / half,
        ci_high=est * half,
        p_value=2 * stats.norm.sf(np.abs(z)),
        is_paper=np.arange(n) == 7,
    )
    if n > 5:
        frame.loc[5, "estimate"] = np.nan  # one not estimable: counted, not shown
    return frame


def _texts(fig) -> str:
    out = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        out += [ax.get_title(), *(t.get_text() for t in ax.texts)]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()] + [
                ax.get_legend().get_title().get_text()
            ]
    return "\n".join(out)


def test_classes_by_sign_and_significance():
    cls = plots.sign_significance(np.array([2.0, 0.5, 2.0, 0.5]), np.array([0.01, 0.01, 0.2, 0.2]), 1.0, 0.05)
    assert cls.tolist() == ["positive, p < alpha", "negative, p < alpha", "p >= alpha", "p >= alpha"]


def test_large_curve_has_band_histogram_groups_and_joint_p_in_title():
    specs = _specs(6000)
    fig = plots.specification_curve_figure(specs, joint=JOINT, title="t")
    text = _texts(fig)
    shown = specs["estimate"].notna().sum()
    cls = plots.sign_significance(
        specs["estimate"].dropna(), specs["p_value"][specs["estimate"].notna()], 1, 0.05
    )
    share = 100 * np.mean(cls != "p >= alpha")
    assert f"{shown} of 6000 specifications" in text and "1 not estimable, not shown" in text
    assert f"{share:.1f} % with p < 0.05" in text
    assert "share significant p = 0.012" in text and "median z p = 0.034" in text
    assert "band: running median" in text  # no per-specification CI bars above MAX_CI_BARS
    curve, hist, indicators = fig.axes[:3]
    assert not any(isinstance(c, LineCollection) for c in curve.collections)
    assert sum(p.get_height() > 0 or p.get_width() > 0 for p in hist.patches) > 10  # the histogram
    for d in DIMENSIONS:  # one bold group label per dimension
        assert any(t.get_text() == d and t.get_fontweight() == "bold" for t in indicators.texts)
    # legend markers at a fixed readable size, the paper's ring included
    sizes = [h.get_markersize() for h in curve.get_legend().legend_handles]
    assert all(4 <= s <= 8 for s in sizes) and len(sizes) == 4
    assert "paper's specification" in text


def test_small_curve_draws_ci_bars_in_class_colours():
    specs = _specs(120)
    fig = plots.specification_curve_figure(specs, alpha=0.05)
    text = _texts(fig)
    assert "bars: 95 % CI" in text
    bars = [c for c in fig.axes[0].collections if isinstance(c, LineCollection)]
    assert len(bars) == 1 and len(bars[0].get_segments()) == specs["estimate"].notna().sum()


@pytest.mark.parametrize("n", [0, 1])
def test_degenerate_curves_do_not_crash(tmp_path, n):
    specs = _specs(max(n, 1)).iloc[:n]
    plots.specification_curve(specs, str(tmp_path / "c.png"), joint=None)
    assert (tmp_path / "c.png").stat().st_size > 1000
