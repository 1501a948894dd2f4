"""Do the pooled trials agree? The paper's OR within each study, pooled (rule
``analysis_heterogeneity``; statistics in ``stats.meta``, output contract in ``docs/results.md``).

- ``study_heterogeneity``: ``stats.meta.heterogeneity`` on the cohort with the paper's model
  (nonresponse on BZD+ = dose > ``bzd_cutoff_mg``, adjusted for ``analysis.logistic.covariates``).
- ``forest_figure``: the forest plot: one row per study (OR, Wald CI, square area proportional to
  the REML weight, ML or Firth named), the DerSimonian-Laird and REML pooled ORs as diamonds
  with their Hartung-Knapp CI (the ad hoc variant where wider) and the one-stage OR; Q, I^2 and
  tau^2 in the title. Same conventions as ``figures`` (data source footer, synthetic mark,
  reproducible bytes).
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd

from .analysis import AnalysisSettings
from .figures import RC, label_data_source
from .stats.meta import heterogeneity

__all__ = ["forest_figure", "study_heterogeneity"]


def study_heterogeneity(patients: pd.DataFrame, settings: AnalysisSettings) -> dict:
    """Per-study ORs, two-stage DL / REML pooling and the one-stage model of the paper's
    adjusted OR (``patients`` with ``analysis.add_groups`` applied)."""
    out = heterogeneity(patients, list(settings.covariates), settings.alpha)
    return {"bzd_cutoff_mg": settings.bzd_cutoff_mg, "covariates": list(settings.covariates), **out}


def _fmt_or(or_, ci) -> str:
    def f(x):
        if x is None or not math.isfinite(x):
            return "inf"
        if x < 0.01:
            return "<0.01"
        if x > 1e4:  # e.g. Hartung-Knapp with 2 studies (t on 1 df): digits would only mislead
            return ">10000"
        return f"{x:.2f}" if x < 100 else f"{x:.0f}"

    return f"{f(or_)} ({f(ci[0])} to {f(ci[1])})"


def _pooled_ci(block: dict) -> tuple[tuple[float, float], str]:
    """The Hartung-Knapp CI, or the ad hoc one where Q < k - 1 made HK narrower than normal."""
    if block["se_hartung_knapp"] < block["se"]:
        return tuple(block["odds_ratio_ci_hartung_knapp_adhoc"]), "HK ad hoc"
    return tuple(block["odds_ratio_ci_hartung_knapp"]), "HK"


def forest_figure(result: dict, data_source: str):
    """Forest plot of ``study_heterogeneity``'s result (log OR axis)."""
    studies = result["studies"]
    pooled = result["pooled"]
    rows = []  # (label, OR, (lo, hi), kind, weight, right-hand text)
    methods = {k: pooled[k] for k in ("dl", "reml") if pooled["estimable"] and pooled[k]["estimable"]}
    reml_w = dict(zip(pooled.get("studies", []), methods.get("reml", {}).get("weights_percent", [])))
    for s in studies:
        label = f"{s['study']} (n = {s['n']}, {s.get('n_exposed', '?')} BZD+)"
        if s["estimable"]:
            est = "Firth" if s["estimator"] == "firth" else "ML"
            w = reml_w.get(s["study"])
            rows.append(
                (
                    label,
                    s["odds_ratio"],
                    tuple(s["ci_wald"]),
                    "study",
                    w,
                    f"{_fmt_or(s['odds_ratio'], s['ci_wald'])}  {est}" + (f", {w:.0f} %" if w else ""),
                )
            )
        else:
            rows.append((label, None, None, "missing", None, "not estimable"))
    if pooled["estimable"]:
        for key, name in (("dl", "DerSimonian-Laird"), ("reml", "REML")):
            if key not in methods:
                rows.append((f"random effects, {name}", None, None, "missing", None, "not estimable"))
                continue
            b = pooled[key]
            ci, how = _pooled_ci(b)
            rows.append(
                (
                    f"random effects, {name}",
                    b["odds_ratio"],
                    ci,
                    "pooled",
                    None,
                    f"{_fmt_or(b['odds_ratio'], ci)}  {how}",
                )
            )
    one = result["one_stage"]
    if one.get("estimable"):
        est = "Firth" if one["estimator"] == "firth" else "ML"
        rows.append(
            (
                "one stage, study fixed effect",
                one["odds_ratio"],
                tuple(one["ci_wald"]),
                "one_stage",
                None,
                f"{_fmt_or(one['odds_ratio'], one['ci_wald'])}  {est}, Wald",
            )
        )
    # axis: the point estimates and study CIs, within 1/1000 to 1000; longer CIs (HK with few
    # studies has a t quantile of 12.7 on 1 df) end in an arrow at the edge
    finite = [
        v
        for r in rows
        if r[1] is not None
        for v in (r[1], *(r[2] if r[3] != "pooled" else ()))
        if v is not None and 0 < v < math.inf
    ]
    lo_ax = max(min([0.1, *finite]) / 1.5, 1e-3)
    hi_ax = min(max([10.0, *finite]) * 1.5, 1e3)
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(8.4, 1.7 + 0.42 * len(rows)))
        n = len(rows)
        for i, (label, or_, ci, kind, w, text) in enumerate(rows):
            yy = n - 1 - i
            if or_ is None:
                ax.text(1, yy, "not estimable", ha="center", va="center", fontsize=7, color="0.4")
                continue
            lo = min(max(ci[0] if ci[0] is not None else 0.0, lo_ax), or_)
            hi = max(min(ci[1] if ci[1] is not None else math.inf, hi_ax), or_)
            colour = {"pooled": "#2166ac", "one_stage": "#b2182b"}.get(kind, "black")
            if kind == "pooled":
                ax.fill(
                    [lo, or_, hi, or_], [yy, yy + 0.22, yy, yy - 0.22], color=colour, alpha=0.85, zorder=3
                )
            else:
                ax.plot([lo, hi], [yy, yy], color=colour, lw=1.1, zorder=2)
                size = 4 + 10 * math.sqrt((w or 0) / 100) if kind == "study" else 6
                ax.plot(or_, yy, "D" if kind == "one_stage" else "s", color=colour, ms=size, zorder=3)
            for edge, clipped, m in ((lo_ax, lo <= lo_ax, "<"), (hi_ax, hi >= hi_ax, ">")):
                if clipped:
                    ax.plot(edge, yy, m, color=colour, ms=6, zorder=4, clip_on=False)
        ax.axvline(1, color="0.5", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlim(lo_ax, hi_ax)
        ticks = [t for t in (0.001, 0.01, 0.1, 1, 10, 100, 1000) if lo_ax <= t <= hi_ax]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_yticks(range(n), [r[0] for r in rows][::-1])
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.text(
            1.05,
            n - 0.45,
            "OR (CI)  estimator, REML weight",
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="bottom",
            fontsize=7,
            fontweight="bold",
        )
        for i, r in enumerate(rows):
            ax.text(
                1.05, n - 1 - i, r[5], transform=ax.get_yaxis_transform(), ha="left", va="center", fontsize=7
            )
        ax.set_xlabel(
            f"odds ratio of nonresponse, BZD+ (> {result['bzd_cutoff_mg']:g} mg/day DZ eq.) vs BZD-\n"
            f"adjusted for {', '.join(result['covariates'])}; log scale, {100 * (1 - result['alpha']):g} % CI "
            "(arrow: CI beyond the axis)"
        )
        if methods:
            b = methods.get("reml", methods.get("dl"))
            d = methods.get("dl", b)
            p = b["q_p_value"]
            title = (
                f"Study heterogeneity: Q = {b['q']:.2f} (df {b['q_df']}, p = {p:.3f}), "
                f"I\u00b2 = {b['i2_percent']:.0f} % (REML; DL {d['i2_percent']:.0f} %), "
                f"\u03c4\u00b2 = {b['tau2']:.3g} (REML; DL {d['tau2']:.3g})"
            )
        else:
            title = f"Study heterogeneity: {pooled['note']}"
        ax.set_title(title, fontsize=8.5)
        fig.tight_layout(rect=(0, 0.04, 0.8, 1))
        label_data_source(fig, data_source)
    return fig
