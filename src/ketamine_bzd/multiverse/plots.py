"""Figures of the multiverse: specification curve, one-at-a-time forest plot, cut-off bootstrap.

Specification curve as Simonsohn, Simmons & Nelson (2020, Fig. 2): estimates sorted, with
confidence intervals, above an indicator panel marking each specification's choices.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..figures import NOT_ESTIMABLE, fmt_number  # noqa: E402
from .grid import DIMENSIONS  # noqa: E402


def specification_curve(specs: pd.DataFrame, path: str, *, scale: str = "odds ratio (nonresponse)",
                        alpha: float = 0.05, dpi: int = 150, title: str = "") -> None:
    """Curve of the specifications on one effect ``scale`` (binary exposures only, so the
    estimates are comparable); the paper's specification is marked in red."""
    s = specs[(specs["effect_scale"] == scale)
              & specs["exposure_kind"].isin(["roc", "cutoff", "median_users"])
              & np.isfinite(specs["estimate"])].sort_values("estimate", ignore_index=True)
    log = scale.startswith("odds")
    dims = [d for d in DIMENSIONS if s[d].nunique() > 1] if len(s) else []
    levels = [(d, v) for d in dims for v in sorted(s[d].unique())]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 4 + 0.16 * len(levels)), sharex=True,
                                  gridspec_kw={"height_ratios": [2, max(1, 0.06 * len(levels))]})
    x = np.arange(len(s))
    sig = (s["p_value"] < alpha).to_numpy()
    lo, hi = s["ci_low"].to_numpy(), s["ci_high"].to_numpy()
    if log:
        lo, hi = np.clip(lo, 1e-3, 1e4), np.clip(hi, 1e-3, 1e4)
    ax.vlines(x, lo, hi, color="0.8", lw=0.3)
    ax.scatter(x[~sig], s["estimate"][~sig], s=2, color="0.45", label="p >= alpha")
    ax.scatter(x[sig], s["estimate"][sig], s=2, color="tab:blue", label="p < alpha")
    paper = s.index[s["is_paper"]]
    if len(paper):
        ax.scatter(paper, s.loc[paper, "estimate"], s=40, color="red", zorder=5, label="paper's specification")
    ax.axhline(1.0 if log else 0.0, color="k", lw=0.6)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(1e-2, 1e3)
    ax.set_ylabel(scale)
    ax.legend(loc="upper left", fontsize=7, markerscale=3)
    ax.set_title(title or f"Specification curve ({len(s)} specifications, binary exposures)", fontsize=9)
    n_not = int(((specs["effect_scale"] == scale) & specs["exposure_kind"].isin(["roc", "cutoff", "median_users"])
                 & ~np.isfinite(specs["estimate"])).sum())
    if n_not:  # left out of the curve, never drawn as a number
        ax.text(0.99, 0.02, f"{n_not} specification(s) {NOT_ESTIMABLE} (not shown; see specifications.csv)",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.3")
    for row, (d, v) in enumerate(levels):
        on = (s[d] == v).to_numpy()
        ax2.scatter(x[on], np.full(on.sum(), row), s=1, marker="|", color="tab:blue" if d != "exposure" else "tab:green")
        if len(paper) and s.loc[paper[0], d] == v:
            ax2.scatter(paper, [row], s=12, color="red", zorder=5)
    ax2.set_yticks(range(len(levels)), [f"{d}: {v}" for d, v in levels], fontsize=5)
    ax2.invert_yaxis()
    ax2.set_xlabel("specification (sorted by estimate)")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def one_at_a_time(specs: pd.DataFrame) -> pd.DataFrame:
    """The paper's specification and each single-dimension departure from it (others fixed)."""
    paper = specs[specs["is_paper"]]
    if paper.empty:
        return specs.iloc[0:0].assign(dimension=pd.Series(dtype=str))
    p = paper.iloc[0]
    rows = [paper.assign(dimension="paper")]
    for d in DIMENSIONS:
        others = [o for o in DIMENSIONS if o != d]
        hit = specs[(specs[others] == p[others]).all(axis=1) & (specs[d] != p[d])]
        rows.append(hit.assign(dimension=d))
    return pd.concat(rows, ignore_index=True)


def forest_plot(specs: pd.DataFrame, path: str, *, dpi: int = 150) -> None:
    """One-dimension-at-a-time departures from the paper's specification (log OR axis for
    logistic rows, separate panel for the continuous outcome)."""
    oat = one_at_a_time(specs)
    binary = oat["effect_scale"].str.startswith("odds")
    parts = [(oat[binary], True), (oat[~binary], False)]
    parts = [(f, lg) for f, lg in parts if len(f)]
    fig, axes = plt.subplots(len(parts) or 1, 1, figsize=(8, 1.5 + 0.22 * len(oat)), squeeze=False,
                             gridspec_kw={"height_ratios": [max(1, len(f)) for f, _ in parts] or [1]})
    for ax, (f, log) in zip(axes[:, 0], parts):
        y = np.arange(len(f))[::-1]
        est, lo, hi = f["estimate"].to_numpy(), f["ci_low"].to_numpy(), f["ci_high"].to_numpy()
        if log:
            est, lo, hi = (np.clip(v, 1e-2, 1e3) for v in (est, lo, hi))
        colors = np.where(f["is_paper"], "red", "k")
        ax.hlines(y, lo, hi, color=colors, lw=1)
        ax.scatter(est, y, color=colors, s=12, zorder=3)
        labels = [f"{dim}: {row[dim]}" if dim != "paper" else "paper's specification"
                  for dim, (_, row) in zip(f["dimension"], f.iterrows())]
        labels = [lab + ("" if not w else "  [!]") + ("" if np.isfinite(e) else "  (not estimable)")
                  for lab, w, e in zip(labels, f["warnings"].astype(bool), f["estimate"])]
        ax.set_yticks(y, labels, fontsize=6)
        ax.axvline(1.0 if log else 0.0, color="0.5", lw=0.6)
        if log:
            ax.set_xscale("log")
            ax.set_xlabel("odds ratio of nonresponse (95 % CI; [!] = warnings)")
        else:
            ax.set_xlabel("mean difference in relative MADRS change (95 % CI)")
    axes[0, 0].set_title("One choice at a time away from the paper's specification", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def cutoff_bootstrap_plot(resamples: pd.DataFrame, observed_cutoff: float, path: str, *,
                          corrected_auc: float, apparent_auc: float, dpi: int = 150) -> None:
    cuts = resamples["cutoff_mg"].dropna()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if len(cuts):
        bins = np.unique(np.round(cuts, 3))
        counts = cuts.round(3).value_counts().reindex(bins, fill_value=0)
        ax.bar(np.arange(len(bins)), counts.to_numpy(), color="0.5")
        ax.set_xticks(np.arange(len(bins)), [f"{b:.3g}" for b in bins], rotation=90, fontsize=5)
        if observed_cutoff in set(bins):
            k = int(np.flatnonzero(bins == round(observed_cutoff, 3))[0])
            ax.bar([k], [counts.iloc[k]], color="red", label=f"observed cut-off > {observed_cutoff:.3g} mg")
            ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, f"Youden cut-off {NOT_ESTIMABLE} in every resample", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("Youden cut-off (diazepam eq. mg/day) in stratified bootstrap resamples")
    ax.set_ylabel("resamples")
    ax.set_title(f"apparent AUC {fmt_number(apparent_auc, '.3f')}, optimism-corrected "
                 f"{fmt_number(corrected_auc, '.3f')} (cut-off + adjusted model)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
