"""Figures of the multiverse: specification curve, one-at-a-time forest plot, cut-off bootstrap.

Specification curve as Simonsohn, Simmons & Nelson (2020, Fig. 2) and the R package specr
(Masur & Scharkow) draw it: estimates sorted and coloured by sign and significance, with their
confidence intervals, a histogram of the estimates, above an indicator panel grouped by
dimension; readable at thousands of specifications (checked at the default grid's 5,880).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ..figures import NOT_ESTIMABLE, fmt_number  # noqa: E402
from .grid import DIMENSIONS  # noqa: E402

# Colours of the sign x significance classes (specr's convention: significant positive,
# significant negative, not significant), shared by the curve, the indicator panel and the histogram.
CLASS_COLOURS = {"positive, p < alpha": "#b2182b", "negative, p < alpha": "#2166ac", "p >= alpha": "#a6a6a6"}
# Above this many specifications the individual CI bars cover the panel: they are replaced by a
# band (running median of the CI limits over the sorted specifications).
MAX_CI_BARS = 300


def curve_specifications(specs: pd.DataFrame, scale: str = "odds ratio (nonresponse)") -> pd.DataFrame:
    """The specifications a curve on ``scale`` shows: binary exposures only (so the estimates
    are comparable), finite estimates, sorted by estimate."""
    keep = (
        (specs["effect_scale"] == scale)
        & specs["exposure_kind"].isin(["roc", "cutoff", "median_users"])
        & np.isfinite(specs["estimate"])
    )
    return specs[keep].sort_values(["estimate", "spec_id"], ignore_index=True)


def sign_significance(estimate: np.ndarray, p_value: np.ndarray, null: float, alpha: float) -> np.ndarray:
    """Class of each specification (keys of ``CLASS_COLOURS``): sign against ``null`` and p < alpha."""
    sig = np.asarray(p_value, float) < alpha
    pos = np.asarray(estimate, float) > null
    return np.where(sig & pos, "positive, p < alpha", np.where(sig, "negative, p < alpha", "p >= alpha"))


def _running_median(v: np.ndarray, window: int) -> np.ndarray:
    s = pd.Series(v)
    return s.rolling(window, center=True, min_periods=1).median().to_numpy()


def _joint_line(joint: dict | None) -> str:
    if not joint or "statistics" not in joint:
        return ""
    st = joint["statistics"]
    parts = [
        f"{name} p = {st[key]['permutation_p']:.3g}"
        for key, name in (
            ("share_significant", "share significant"),
            ("median_z", "median z"),
            ("stouffer_z", "Stouffer z"),
        )
        if key in st and st[key].get("permutation_p") is not None
    ]
    return (
        f"joint inference over all {joint.get('n_specifications', '?')} specifications "
        f"({joint.get('n_permutations', '?')} permutations): " + ", ".join(parts)
    )


def specification_curve_figure(
    specs: pd.DataFrame,
    *,
    scale: str = "odds ratio (nonresponse)",
    alpha: float = 0.05,
    joint: dict | None = None,
    title: str = "",
):
    """Specification curve as specr and Simonsohn, Simmons & Nelson (2020, Fig. 2) draw it.

    Top: estimates sorted, each point coloured by sign and significance (``CLASS_COLOURS``);
    CIs as thin bars up to ``MAX_CI_BARS`` specifications, above that as a band (running median
    of the CI limits); the paper's specification ringed and marked by a vertical line through
    both panels; to the right a histogram of the estimates. Bottom: the indicator panel, one
    block per dimension (its name in bold), one row per value, a mark in the class colour where
    a specification uses the value. Title: the share significant (by sign) and, with ``joint``
    (``joint_inference.json``), the permutation p of the joint tests."""
    s = curve_specifications(specs, scale)
    n_all = int(
        (
            (specs["effect_scale"] == scale) & specs["exposure_kind"].isin(["roc", "cutoff", "median_users"])
        ).sum()
    )
    log = scale.startswith("odds")
    null = 1.0 if log else 0.0
    dims = [d for d in DIMENSIONS if len(s) and s[d].nunique() > 1]
    groups = [(d, sorted(s[d].unique())) for d in dims]
    n_rows = sum(len(v) for _, v in groups) + max(len(groups) - 1, 0)  # a blank row between dimensions
    n = len(s)
    cls = sign_significance(s["estimate"], s["p_value"], null, alpha) if n else np.array([], str)
    colours = np.array([CLASS_COLOURS[c] for c in cls]) if n else np.array([], str)
    x = np.arange(n)
    fig = plt.figure(figsize=(11, 4.6 + 0.13 * n_rows))
    gs = fig.add_gridspec(
        2, 2, height_ratios=[3.2, max(1.2, 0.13 * n_rows)], width_ratios=[8, 1], hspace=0.06, wspace=0.03
    )
    ax = fig.add_subplot(gs[0, 0])
    axh = fig.add_subplot(gs[0, 1], sharey=ax)
    ax2 = fig.add_subplot(gs[1, 0], sharex=ax)
    est = s["estimate"].to_numpy(float)
    lo, hi = s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float)
    if log:
        lo, hi = np.clip(lo, 1e-3, 1e4), np.clip(hi, 1e-3, 1e4)
    if n and n <= MAX_CI_BARS:
        ax.vlines(x, lo, hi, color=colours, lw=0.6, alpha=0.45, zorder=1)
        ci_note = f"bars: {100 * (1 - alpha):g} % CI"
    elif n:
        window = max(5, n // 50)
        ax.fill_between(
            x, _running_median(lo, window), _running_median(hi, window), color="0.85", lw=0, zorder=1
        )
        ci_note = (
            f"band: running median of the {100 * (1 - alpha):g} % CI limits over {window} specifications"
        )
    else:
        ci_note = ""
    size = float(np.clip(3000 / max(n, 1), 1.5, 12))
    for name, colour in CLASS_COLOURS.items():
        on = cls == name
        text = (
            name.replace("alpha", f"{alpha:g}")
            .replace("positive", f"{'OR' if log else 'estimate'} > {null:g}")
            .replace("negative", f"{'OR' if log else 'estimate'} < {null:g}")
        )
        ax.scatter(
            x[on],
            est[on],
            s=size,
            color=colour,
            lw=0,
            zorder=3 if name == "p >= alpha" else 4,
            label=f"{text}: {int(on.sum())} ({100 * on.mean() if n else 0:.1f} %)",
        )
    ax.axhline(null, color="k", lw=0.6, zorder=2)
    paper = np.flatnonzero(s["is_paper"].to_numpy(bool)) if n else []
    for axis in (ax, ax2):
        for k in paper:
            axis.axvline(k, color="black", lw=0.7, ls="--", zorder=2)
    if len(paper):
        k = int(paper[0])
        ax.scatter(
            [k],
            [est[k]],
            s=90,
            facecolor="none",
            edgecolor="black",
            lw=1.6,
            zorder=5,
            label=f"paper's specification ({est[k]:.3g}; rank {k + 1} of {n})",
        )
    if log:
        ax.set_yscale("log")
        ax.set_ylim(1e-2, 1e3)
    ax.set_ylabel(scale)
    ax.tick_params(labelbottom=False)
    ax.set_xlim(-0.5, max(n, 1) - 0.5)
    # legend handles drawn at a fixed readable size, whatever the point size in the panel
    handles = [Line2D([], [], ls="", marker="o", ms=5, color=c, mew=0) for c in CLASS_COLOURS.values()]
    handles += [Line2D([], [], ls="", marker="o", ms=7, mfc="none", mec="black", mew=1.4)][: len(paper)]
    ax.legend(
        handles,
        ax.get_legend_handles_labels()[1],
        loc="upper left",
        fontsize=7,
        frameon=False,
        title=ci_note,
        title_fontsize=6.5,
        alignment="left",
    )
    # histogram of the estimates, bins on the axis scale, stacked by class
    if n:
        edges = np.logspace(-2, 3, 41) if log else np.linspace(np.nanmin(lo), np.nanmax(hi), 41)
        vals = np.clip(est, edges[0], edges[-1])
        axh.hist(
            [vals[cls == c] for c in CLASS_COLOURS],
            bins=edges,
            orientation="horizontal",
            stacked=True,
            color=list(CLASS_COLOURS.values()),
            lw=0,
        )
    axh.axhline(null, color="k", lw=0.6)
    if len(paper):
        axh.axhline(est[int(paper[0])], color="black", lw=0.7, ls="--")
    axh.tick_params(labelleft=False, labelsize=6)
    axh.set_xlabel("specifications", fontsize=7)
    for side in ("top", "right"):
        axh.spines[side].set_visible(False)
        ax.spines[side].set_visible(False)
    # indicator panel: one short vertical mark per specification in the row of each of its
    # values, in its class colour; significant ones drawn last so that they stay visible
    labels, row, dim_rows = [], 0, []
    xs, ys = [], []
    for g, (d, values) in enumerate(groups):
        if g:
            labels.append("")
            row += 1
        dim_rows.append((d, row, row + len(values) - 1))
        index = {v: row + i for i, v in enumerate(values)}
        xs.append(x)
        ys.append(s[d].map(index).to_numpy(float))
        labels += [str(v) for v in values]
        row += len(values)
    if n and groups:
        order = np.argsort(cls != "p >= alpha", kind="stable")  # n.s. first, significant on top
        xx = np.concatenate([xv[order] for xv in xs])
        yy = np.concatenate([yv[order] for yv in ys])
        cc = np.tile(colours[order], len(groups))
        ax2.vlines(xx, yy - 0.38, yy + 0.38, colors=cc, lw=float(np.clip(600 / n, 0.4, 2.0)))
    ax2.set_ylim(max(n_rows, 1) - 0.5, -0.5)
    ax2.set_yticks(range(len(labels)), labels, fontsize=6.5)
    for d, r0, r1 in dim_rows:
        ax2.text(
            -0.11,
            (r0 + r1) / 2,
            d,
            transform=ax2.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=7.5,
            fontweight="bold",
        )
        for k in paper[:1]:
            on_rows = [r for r, v in zip(range(r0, r1 + 1), dict(groups)[d]) if s.loc[k, d] == v]
            ax2.scatter(
                [k] * len(on_rows),
                on_rows,
                s=28,
                marker="o",
                facecolor="none",
                edgecolor="black",
                lw=1.2,
                zorder=5,
            )
    ax2.tick_params(axis="y", length=0)
    ax2.set_xlabel("specification (sorted by estimate)")
    shown = f"{n} of {n_all} specifications with a binary exposure on the {scale} scale"
    if n_all - n:
        # left out of the curve, never drawn as a number
        shown += f" ({n_all - n} {NOT_ESTIMABLE}, not shown; see specifications.csv)"
    sig_share = (
        f"{100 * np.mean(cls != 'p >= alpha'):.1f} % with p < {alpha:g}"
        if n
        else f"every specification {NOT_ESTIMABLE}"
    )
    lines = [title or "Specification curve", f"{shown}; {sig_share}"]
    if _joint_line(joint):
        lines.append(_joint_line(joint))
    fig.suptitle("\n".join(lines), fontsize=8.5, y=0.995)
    height = fig.get_size_inches()[1]
    fig.subplots_adjust(
        left=0.19, right=0.98, top=1 - (0.15 + 0.15 * len(lines)) / height, bottom=0.45 / height
    )
    return fig


def specification_curve(
    specs: pd.DataFrame,
    path: str,
    *,
    scale: str = "odds ratio (nonresponse)",
    alpha: float = 0.05,
    dpi: int = 150,
    title: str = "",
    joint: dict | None = None,
) -> None:
    """``specification_curve_figure`` written to ``path`` (no run-dependent PNG metadata)."""
    fig = specification_curve_figure(specs, scale=scale, alpha=alpha, joint=joint, title=title)
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
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
    fig, axes = plt.subplots(
        len(parts) or 1,
        1,
        figsize=(8, 1.5 + 0.22 * len(oat)),
        squeeze=False,
        gridspec_kw={"height_ratios": [max(1, len(f)) for f, _ in parts] or [1]},
    )
    for ax, (f, log) in zip(axes[:, 0], parts):
        y = np.arange(len(f))[::-1]
        est, lo, hi = f["estimate"].to_numpy(), f["ci_low"].to_numpy(), f["ci_high"].to_numpy()
        if log:
            est, lo, hi = (np.clip(v, 1e-2, 1e3) for v in (est, lo, hi))
        colors = np.where(f["is_paper"], "red", "k")
        ax.hlines(y, lo, hi, color=colors, lw=1)
        ax.scatter(est, y, color=colors, s=12, zorder=3)
        labels = [
            f"{dim}: {row[dim]}" if dim != "paper" else "paper's specification"
            for dim, (_, row) in zip(f["dimension"], f.iterrows())
        ]
        labels = [
            lab + ("" if not w else "  [!]") + ("" if np.isfinite(e) else "  (not estimable)")
            for lab, w, e in zip(labels, f["warnings"].astype(bool), f["estimate"])
        ]
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


def cutoff_bootstrap_plot(
    resamples: pd.DataFrame,
    observed_cutoff: float,
    path: str,
    *,
    corrected_auc: float,
    apparent_auc: float,
    dpi: int = 150,
) -> None:
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
        ax.text(
            0.5,
            0.5,
            f"Youden cut-off {NOT_ESTIMABLE} in every resample",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlabel("Youden cut-off (diazepam eq. mg/day) in stratified bootstrap resamples")
    ax.set_ylabel("resamples")
    ax.set_title(
        f"apparent AUC {fmt_number(apparent_auc, '.3f')}, optimism-corrected "
        f"{fmt_number(corrected_auc, '.3f')} (cut-off + adjusted model)",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
