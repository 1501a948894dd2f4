"""The paper's figures (matplotlib, Agg), written as PNG and PDF with reproducible bytes.

- Figure 1: empirical ROC of the diazepam-equivalent dose for nonresponse, one panel per
  population, with the pointwise 95 % Clopper-Pearson band of the sensitivity at each operating
  point, the Youden criterion and the configured cut-off marked (MedCalc draws the same curve).
- Figure 2: MADRS by visit and BZD group, mean with the 95 % t confidence interval of the mean,
  with the Bonferroni-adjusted p of the group difference at each visit.
- Dose-response: relative MADRS change at day 7 against the diazepam-equivalent dose, responders
  and nonresponders marked, the cut-off as a vertical line, Spearman's rho in the title.
- MMRM: LS-mean change in MADRS from baseline at days 1, 3, 7 by BZD group with CIs and the
  group difference per visit (``mmrm_figure``).

Every figure carries its data source in a footer; with synthetic data a large
"SYNTHETIC DATA" mark is drawn across it. Reproducible bytes: fixed size and dpi, no
timestamps or software versions in the metadata (PNG ``Software``, PDF ``CreationDate``,
``Creator``, ``Producer``), ``svg.hashsalt`` fixed.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from .jsonable import NOT_ESTIMABLE  # noqa: E402

GROUP_COLOURS = {"BZD+": "#b2182b", "BZD-": "#2166ac"}
# horizontal offset between the groups in Figure 2 (days): the CI bars (caps 3 pt) stay apart
FIGURE2_DODGE_DAYS = 0.36
RC = {
    "svg.hashsalt": "ketamine-bzd",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,
}
PNG_METADATA = {"Software": None}
PDF_METADATA = {"CreationDate": None, "Creator": None, "Producer": None}


def _dodge_days(k: int, n_groups: int) -> float:
    """Offset of group ``k`` of ``n_groups`` along the day axis, so that their CI bars sit side
    by side, not on top of each other (Figure 2 and the MMRM figure)."""
    return (k - (n_groups - 1) / 2) * FIGURE2_DODGE_DAYS


def _group_label(group: str, cutoff_mg: float, n: int) -> str:
    """Legend entry of a BZD group: its dose range in diazepam equivalents and its size."""
    desc = f"> {cutoff_mg:g} mg" if group == "BZD+" else f"0-{cutoff_mg:g} mg"
    return f"{group} ({desc} DZ eq., n = {n})"


def is_synthetic(data_source: str) -> bool:
    return str(data_source).lower().startswith("synthetic")


def label_data_source(fig, data_source: str) -> None:
    """Footer with the data source; a diagonal "SYNTHETIC DATA" mark for synthetic data."""
    fig.text(0.01, 0.005, f"Data: {data_source}", fontsize=6, color="0.35", ha="left", va="bottom")
    if is_synthetic(data_source):
        fig.text(
            0.5,
            0.5,
            "SYNTHETIC DATA",
            fontsize=40,
            color="red",
            alpha=0.18,
            ha="center",
            va="center",
            rotation=30,
            fontweight="bold",
            zorder=100,
        )
        fig.text(
            0.99, 0.995, "SYNTHETIC DATA", fontsize=8, color="red", ha="right", va="top", fontweight="bold"
        )


def save(fig, stem: str | Path, dpi: int) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` without run-dependent metadata; close the figure."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=dpi, metadata=PNG_METADATA)
    fig.savefig(paths[1], dpi=dpi, metadata=PDF_METADATA)
    plt.close(fig)
    return paths


def estimable(x) -> bool:
    """A value that can be drawn or printed as a number (not None, NaN or infinite)."""
    try:
        return x is not None and bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def fmt_number(x, spec: str = ".2f") -> str:
    """``x`` formatted with ``spec``, or "not estimable": a figure never prints "nan"."""
    return format(float(x), spec) if estimable(x) else NOT_ESTIMABLE


def _fmt_p(p) -> str:
    if not estimable(p):
        return f"p {NOT_ESTIMABLE}"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def roc_figure(coordinates: pd.DataFrame, roc: dict, data_source: str):
    """Figure 1 from ``roc_coordinates.csv`` and ``roc.json`` (one panel per population)."""
    pops = list(roc["populations"])
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(pops), figsize=(4.2 * len(pops), 4.4), squeeze=False)
        for ax, pop in zip(axes[0], pops):
            block = roc["populations"][pop]
            ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_aspect("equal")
            ax.set_xlabel("100 - specificity (%)  [responders above the criterion]")
            ax.set_ylabel("sensitivity (%)  [nonresponders above the criterion]")
            ticks = np.linspace(0, 1, 6)
            ax.set_xticks(ticks, [f"{t * 100:.0f}" for t in ticks])
            ax.set_yticks(ticks, [f"{t * 100:.0f}" for t in ticks])
            if not block.get("estimable", True):
                ax.set_title(f"{pop}: ROC not estimable")
                ax.text(0.5, 0.5, block.get("error", ""), ha="center", va="center", fontsize=7, wrap=True)
                continue
            c = coordinates[coordinates["population"] == pop]
            # operating points from most to least sensitive; a step curve as MedCalc draws it
            fpr = (1 - c["specificity"]).to_numpy()[::-1]
            tpr = c["sensitivity"].to_numpy()[::-1]
            lo = c["sensitivity_ci_low"].to_numpy()[::-1]
            hi = c["sensitivity_ci_high"].to_numpy()[::-1]
            ax.fill_between(
                fpr,
                lo,
                hi,
                step="post",
                color="0.6",
                alpha=0.3,
                lw=0,
                label="95 % CI of sensitivity (Clopper-Pearson)",
            )
            ax.step(fpr, tpr, where="post", color="black", lw=1.4, label="empirical ROC")
            if estimable(block["specificity"]) and estimable(block["sensitivity"]):
                ax.plot(
                    1 - block["specificity"],
                    block["sensitivity"],
                    "o",
                    color="#1b7837",
                    ms=7,
                    label=f"Youden criterion >{fmt_number(block['cutoff_mg'])} mg",
                )
            cut = block.get("at_configured_cutoff")
            if cut and estimable(cut["specificity"]) and estimable(cut["sensitivity"]):
                ax.plot(
                    1 - cut["specificity"],
                    cut["sensitivity"],
                    "s",
                    mfc="none",
                    mec="#b2182b",
                    ms=10,
                    mew=1.5,
                    label=f"cut-off {cut['criterion']} mg: sens {100 * cut['sensitivity']:.1f} %, "
                    f"spec {100 * cut['specificity']:.1f} %",
                )
            ci = block.get("auc_ci_exact") or (None, None)
            ax.set_title(
                f"{'all patients' if pop == 'all' else 'BZD users'} "
                f"({block['n_positive']} nonresponders, {block['n_negative']} responders)\n"
                f"AUC = {fmt_number(block['auc'])} (95 % CI {fmt_number(ci[0])}-{fmt_number(ci[1])}), "
                f"{_fmt_p(block['p_value'])}",
                fontsize=8.5,
            )
            ax.legend(loc="lower right", fontsize=6.5, frameon=False)
        fig.suptitle("Figure 1. ROC of the diazepam-equivalent dose for nonresponse to ketamine", fontsize=10)
        fig.tight_layout(rect=(0, 0.04, 1, 0.97))
        label_data_source(fig, data_source)
    return fig


def mean_ci(x: pd.Series, alpha: float = 0.05) -> tuple[float, float, float, int]:
    """Mean and the t-based (1 - alpha) CI of the mean of the non-missing values."""
    v = x.dropna().to_numpy(float)
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    m = float(v.mean())
    if n < 2:
        return m, math.nan, math.nan, n
    h = float(stats.t.ppf(1 - alpha / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return m, m - h, m + h, n


def madrs_course_figure(
    patients: pd.DataFrame,
    posthoc: pd.DataFrame,
    data_source: str,
    groups=("BZD+", "BZD-"),
    cutoff_mg: float = 8.0,
    alpha: float = 0.05,
):
    """Figure 2: MADRS mean and 95 % CI per visit and BZD group (visits at their days)."""
    visits = {"day0": 0, "day1": 1, "day3": 3, "day7": 7}
    se = posthoc[posthoc["analysis"] == "simple_effect_madrs"].set_index("time")
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(5.6, 4.2))
        for k, g in enumerate(groups):
            sub = patients[patients["bzd_group"] == g]
            rows = [mean_ci(sub[f"madrs_{v}"], alpha) for v in visits]
            x = np.array(list(visits.values()), float) + _dodge_days(k, len(groups))
            m = np.array([r[0] for r in rows])
            lo = np.array([r[1] for r in rows])
            hi = np.array([r[2] for r in rows])
            ax.errorbar(
                x,
                m,
                yerr=[m - lo, hi - m],
                marker="o",
                ms=4,
                capsize=3,
                lw=1.3,
                color=GROUP_COLOURS.get(g),
                label=_group_label(g, cutoff_mg, len(sub)),
            )
        top = ax.get_ylim()[1]
        for v, day in visits.items():
            if v in se.index:
                p = se.loc[v, "p_bonferroni"]
                text = f"p {NOT_ESTIMABLE}" if not estimable(p) else "p<0.001" if p < 0.001 else f"p={p:.2f}"
                ax.text(
                    day,
                    top,
                    text,
                    ha="right" if day == 0 else "left" if day == 1 else "center",
                    va="bottom",
                    fontsize=7,
                )
        ax.text(
            1.0,
            -0.16,
            "p: BZD+ vs BZD- at the visit, Bonferroni over the 4 visits",
            transform=ax.transAxes,
            ha="right",
            fontsize=6,
            color="0.3",
        )
        ax.set_xticks(list(visits.values()), ["baseline", "day 1", "day 3", "day 7"])
        ax.set_xlabel("visit (days after the infusion; baseline = day before)")
        ax.set_ylabel("MADRS (mean, 95 % CI)")
        # best free corner: a fixed one covered the BZD+ CI at day 1 on the default cohort
        ax.legend(loc="best", fontsize=7, frameon=False)
        ax.set_title(
            "Figure 2. MADRS after a single ketamine infusion by BZD dose group", fontsize=9.5, pad=16
        )
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        label_data_source(fig, data_source)
    return fig


def dose_response_figure(
    patients: pd.DataFrame,
    data_source: str,
    cutoff_mg: float = 8.0,
    correlation: dict | None = None,
    column: str = "madrs_rel_change_day7",
):
    """Relative MADRS change at day 7 against the diazepam-equivalent dose (all patients)."""
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(5.6, 4.2))
        resp = patients["responder"].astype("boolean")
        styles = [
            ("responders", resp == True, "o", "#1b7837"),  # noqa: E712
            ("nonresponders", resp == False, "^", "#762a83"),  # noqa: E712
            ("response unknown", resp.isna(), "x", "0.4"),
        ]
        for name, mask, marker, colour in styles:
            mask = mask.fillna(False).astype(bool) if hasattr(mask, "fillna") else mask
            sub = patients[mask]
            if len(sub):
                ax.scatter(
                    sub["diazepam_eq_mg"],
                    100 * sub[column],
                    marker=marker,
                    s=22,
                    color=colour,
                    label=f"{name} (n = {len(sub)})",
                    alpha=0.85,
                )
        ax.axvline(cutoff_mg, color="#b2182b", ls="--", lw=1, label=f"cut-off {cutoff_mg:g} mg")
        ax.axhline(50, color="0.6", ls=":", lw=0.8)
        ax.set_xlabel("BZD dose (mg/day diazepam equivalent, mean over days -1 to 7)")
        ax.set_ylabel("MADRS reduction at day 7 (% of baseline)")
        title = "Dose-response: MADRS change at day 7 vs BZD dose"
        if correlation and estimable(correlation.get("rho")):
            title += f"\nSpearman rho = {correlation['rho']:.2f}, {_fmt_p(correlation['p_value'])} (n = {correlation['n']})"
        elif correlation:
            title += f"\nSpearman rho {NOT_ESTIMABLE} (n = {correlation['n']}; see logistic.json warnings)"
        ax.set_title(title, fontsize=9.5)
        ax.legend(loc="best", fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        label_data_source(fig, data_source)
    return fig


def mmrm_figure(result: dict, data_source: str, cutoff_mg: float = 8.0):
    """LS-mean change in MADRS from baseline (MMRM, ``mmrm.json``) at days 1, 3, 7 by BZD group,
    with the (1 - alpha) Satterthwaite CIs, groups dodged; the group difference with its CI and
    p above each visit. A model that was not estimated or did not converge is said so in the
    panel, with no numbers drawn."""
    days = {"day1": 1, "day3": 3, "day7": 7}
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(5.8, 4.6))
        ax.axhline(0, color="0.6", lw=0.8, ls=":")
        ok = result.get("estimable", False) and result.get("converged", False)
        if not ok:
            reason = result.get("error") or "; ".join(result.get("warnings", [])) or "not estimated"
            ax.text(
                0.5,
                0.5,
                f"MMRM: no estimates\n{reason}",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=8,
                wrap=True,
            )
            ax.set_yticks([])
        else:
            ls = pd.DataFrame(result["ls_means"])
            level = round(100 * (1 - result["alpha"]))
            for k, g in enumerate(result["groups"]):
                sub = ls[ls["group"] == g].set_index("visit").loc[[v for v in days if v in set(ls["visit"])]]
                x = np.array([days[v] for v in sub.index], float) + _dodge_days(k, len(result["groups"]))
                m = sub["estimate"].to_numpy(float)
                lo, hi = sub["ci_low"].to_numpy(float), sub["ci_high"].to_numpy(float)
                ax.errorbar(
                    x,
                    m,
                    yerr=[m - lo, hi - m],
                    marker="o",
                    ms=4.5,
                    capsize=3,
                    lw=1.3,
                    color=GROUP_COLOURS.get(g),
                    label=_group_label(g, cutoff_mg, result["n_per_group"][g]),
                )
            top = ax.get_ylim()[1]
            for c in result["contrasts"]:
                ax.text(
                    days[c["visit"]],
                    top,
                    f"{c['estimate']:+.1f} ({c['ci_low']:+.1f} to {c['ci_high']:+.1f})\n"
                    f"{_fmt_p(c['p_value'])}",
                    ha="center",
                    va="bottom",
                    fontsize=6.5,
                )
            # below the axes: the LS means can sit anywhere in the panel
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=7, frameon=False)
            note = (
                f"LS means at the mean baseline MADRS {result['baseline_mean']:.1f}; {level} % CIs, "
                f"Satterthwaite df. Above: {result['groups'][0]} minus {result['groups'][1]} "
                f"({level} % CI), p. Missing visits: {result['n_missing_visits']}."
            )
            ax.text(0.5, -0.27, note, transform=ax.transAxes, ha="center", fontsize=5.8, color="0.3")
        ax.set_xticks(list(days.values()), ["day 1", "day 3", "day 7"])
        ax.set_xlim(0, 8)
        ax.set_xlabel("visit (days after the infusion)")
        ax.set_ylabel("change in MADRS from baseline (LS mean, points)")
        ax.set_title(
            "MMRM: change in MADRS from baseline by BZD dose group\n"
            "(unstructured covariance, REML; adjusted for baseline MADRS)",
            fontsize=9,
            pad=26,
        )
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        label_data_source(fig, data_source)
    return fig
