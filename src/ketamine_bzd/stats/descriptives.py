"""Two-group comparison tables (the paper's Tables 1 and 2).

Tests, as the paper's footnotes name them and as Statistica 12 computes them by default:
- ``"t"``: unpaired Student t with pooled (equal) variances (Student 1908); Welch's p is
  given alongside as ``p_welch``.
- ``"mannwhitney"``: Mann-Whitney U, two-sided. ``p_normal``: normal approximation with
  tie correction and continuity correction, as R ``wilcox.test(exact=FALSE, correct=TRUE)``;
  ``p_exact``: the exact permutation distribution, only without ties (R's default uses it
  when both n < 50 and there are no ties). ``p_value`` is the exact p when it exists and
  both n < 50 (R's default choice), else the normal one; ``p_method`` says which.
  ``statistic`` is W = U of the first group (R's W).
- ``"fisher"``: Fisher's exact test, two-sided, as R ``fisher.test``.

Standardised mean difference: Cohen's d with the pooled SD, and Hedges' g = d * J with the
exact small-sample factor J = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = n1 + n2 - 2
(Hedges 1981). For a binary row: (p1 - p2) / sqrt((p1 (1-p1) + p2 (1-p2)) / 2) (Austin 2009).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special, stats

from .result import Result, require_columns

__all__ = [
    "RowSpec",
    "GroupComparison",
    "compare_groups",
    "build_table",
    "render_markdown",
    "hedges_j",
]

Kind = Literal["continuous", "binary"]
Test = Literal["t", "mannwhitney", "fisher", "none"]


def hedges_j(df: float) -> float:
    """Exact small-sample bias correction of Hedges (1981)."""
    if df <= 1:
        return math.nan
    return float(math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2))


@dataclass
class RowSpec:
    """One table row. ``levels`` (binary rows) = the two values counted as ``a/b``;
    ``subset`` = a boolean column restricting the row (e.g. dose among ``bzd_user``)."""

    variable: str
    label: str
    kind: Kind = "continuous"
    test: Test = "t"
    levels: tuple | None = None
    subset: str | None = None
    footnote: str | None = None


@dataclass
class GroupComparison(Result):
    variable: str
    label: str
    kind: str
    test: str
    groups: tuple[str, str]
    n: tuple[int, int]
    n_missing: tuple[int, int]
    mean: tuple[float, float] | None
    sd: tuple[float, float] | None
    median: tuple[float, float] | None
    counts: tuple[tuple[int, int], tuple[int, int]] | None
    levels: tuple[str, str] | None
    statistic: float
    df: float | None
    p_value: float
    p_method: str
    p_welch: float | None = None
    p_normal: float | None = None
    p_exact: float | None = None
    cohen_d: float | None = None
    hedges_g: float | None = None
    smd: float | None = None
    subset: str | None = None
    footnote: str | None = None
    warnings: list[str] = field(default_factory=list)


def _mann_whitney(x: np.ndarray, y: np.ndarray) -> dict:
    normal = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic", use_continuity=True)
    ties = len(np.unique(np.concatenate([x, y]))) < len(x) + len(y)
    out = {"statistic": float(normal.statistic), "p_normal": float(normal.pvalue), "p_exact": None}
    if not ties:
        out["p_exact"] = float(stats.mannwhitneyu(x, y, alternative="two-sided", method="exact").pvalue)
    if out["p_exact"] is not None and len(x) < 50 and len(y) < 50:
        out["p_value"], out["p_method"] = out["p_exact"], "mann_whitney_exact"
    else:
        out["p_value"] = out["p_normal"]
        out["p_method"] = "mann_whitney_normal_tie_continuity_corrected"
    out["ties"] = ties
    return out


def compare_groups(
    frame: pd.DataFrame,
    variable: str,
    group: str,
    *,
    groups: tuple | list | None = None,
    kind: Kind = "continuous",
    test: Test = "t",
    levels: tuple | None = None,
    label: str | None = None,
    subset: str | None = None,
    footnote: str | None = None,
) -> GroupComparison:
    """Compare ``variable`` between the two levels of ``group`` (order ``groups``)."""
    cols = [variable, group] + ([subset] if subset else [])
    require_columns(frame, cols)
    warnings: list[str] = []
    data = frame
    if subset:
        if frame[subset].isna().any():
            raise ValueError(f"subset column {subset!r} has missing values")
        data = frame[frame[subset].astype(bool)]
    if data[group].isna().any():
        raise ValueError(f"group column {group!r} has {int(data[group].isna().sum())} missing value(s)")
    g_levels = list(groups) if groups is not None else sorted(data[group].unique().tolist())
    if len(g_levels) != 2:
        raise ValueError(f"need exactly 2 groups in {group!r}, got {g_levels}")
    outside = set(data[group].unique()) - set(g_levels)
    if outside:
        raise ValueError(f"{group!r} has level(s) {sorted(map(str, outside))} outside groups={g_levels}")
    cols_v = [data.loc[data[group] == g, variable] for g in g_levels]
    if kind == "binary" and levels is not None:
        # a value the row does not compare (e.g. ad_therapy 'none' in "AD mono/comb") is left
        # out of the row and counted in a warning, never an error and never silently
        other = [v[v.notna() & ~v.isin(list(levels))] for v in cols_v]
        if sum(len(o) for o in other):
            shown = pd.concat(other).astype(str).value_counts().sort_index()
            warnings.append(
                f"{int(shown.sum())} patient(s) with {variable} outside {list(map(str, levels))} not counted "
                f"in this row ({', '.join(f'{k!r}: {n}' for k, n in shown.items())})"
            )
            cols_v = [v[~v.index.isin(o.index)] for v, o in zip(cols_v, other)]
    n_missing = tuple(int(v.isna().sum()) for v in cols_v)
    vals = [v.dropna() for v in cols_v]
    n = tuple(len(v) for v in vals)
    if sum(n_missing):
        warnings.append(
            f"missing {variable}: {n_missing[0]} in {g_levels[0]!r}, {n_missing[1]} in {g_levels[1]!r}"
        )
    empty = [g for g, k in zip(g_levels, n) if k == 0]
    if empty:
        # a group without data (e.g. no BZD+ patient): the row is kept with its counts and
        # every statistic undefined (null in JSON, empty in CSV, "NA" in Markdown)
        where = f" in subset {subset!r}" if subset else ""
        warnings.append(
            f"group(s) {[str(g) for g in empty]} of {group!r} have no patient with {variable!r}{where}: "
            "not compared"
        )
    res: dict = dict(
        mean=None,
        sd=None,
        median=None,
        counts=None,
        statistic=math.nan,
        df=None,
        p_value=math.nan,
        p_method="none",
    )
    if empty and kind == "continuous":  # the group with data keeps its descriptives
        res.update(
            mean=tuple(float(v.astype(float).mean()) if len(v) else math.nan for v in vals),
            sd=tuple(float(v.astype(float).std(ddof=1)) if len(v) > 1 else math.nan for v in vals),
            median=tuple(float(v.astype(float).median()) if len(v) else math.nan for v in vals),
        )
    elif kind == "continuous":
        x, y = (np.asarray(v, dtype=float) for v in vals)
        m = (float(x.mean()), float(y.mean()))
        sd = (float(x.std(ddof=1)) if n[0] > 1 else math.nan, float(y.std(ddof=1)) if n[1] > 1 else math.nan)
        res.update(mean=m, sd=sd, median=(float(np.median(x)), float(np.median(y))))
        dfree = n[0] + n[1] - 2
        sp = math.sqrt(((n[0] - 1) * sd[0] ** 2 + (n[1] - 1) * sd[1] ** 2) / dfree) if dfree > 0 else math.nan
        if not sp > 0:
            warnings.append("pooled SD is 0 or undefined: standardised difference undefined")
            d = math.nan
        else:
            d = (m[0] - m[1]) / sp
        res.update(cohen_d=d, hedges_g=d * hedges_j(dfree), smd=d)
        if test == "t":
            if min(n) < 2 or not sp > 0:
                warnings.append("t test undefined (n < 2 in a group or zero variance)")
            else:
                t = stats.ttest_ind(x, y, equal_var=True)
                w = stats.ttest_ind(x, y, equal_var=False)
                res.update(
                    statistic=float(t.statistic),
                    df=float(dfree),
                    p_value=float(t.pvalue),
                    p_method="student_t_pooled",
                    p_welch=float(w.pvalue),
                )
        elif test == "mannwhitney":
            mw = _mann_whitney(x, y)
            if mw.pop("ties"):
                warnings.append("ties: exact Mann-Whitney p unavailable, normal approximation used")
            res.update(mw)
        elif test != "none":
            raise ValueError(f"test {test!r} not valid for a continuous row")
    if kind == "binary":
        allv = pd.concat(vals)
        lv = list(levels) if levels is not None else sorted(allv.unique().tolist())
        if len(lv) != 2:
            raise ValueError(f"binary row {variable!r} needs exactly 2 levels, got {lv}")
        outside = set(allv.unique()) - set(lv)
        if outside:
            raise ValueError(f"{variable!r} has values {sorted(map(str, outside))} outside levels {lv}")
        counts = tuple((int((v == lv[0]).sum()), int((v == lv[1]).sum())) for v in vals)
        res.update(counts=counts)
        if empty:
            pass
        else:
            p1, p2 = counts[0][0] / n[0], counts[1][0] / n[1]
            denom = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
            res.update(smd=(p1 - p2) / denom if denom > 0 else math.nan)
        if test == "fisher" and empty:
            pass
        elif test == "fisher":
            res.update(
                p_value=float(stats.fisher_exact(np.array(counts)).pvalue), p_method="fisher_exact_two_sided"
            )
            res["statistic"] = math.nan
        elif test != "none":
            raise ValueError(f"test {test!r} not valid for a binary row")
        levels = tuple(str(v) for v in lv)
    elif kind != "continuous":
        raise ValueError(f"unknown kind {kind!r}")
    return GroupComparison(
        variable=variable,
        label=label or variable,
        kind=kind,
        test=test,
        groups=(str(g_levels[0]), str(g_levels[1])),
        n=n,
        n_missing=n_missing,
        levels=levels if kind == "binary" else None,
        subset=subset,
        footnote=footnote,
        warnings=warnings,
        **res,
    )


def build_table(
    frame: pd.DataFrame, group: str, specs: list[RowSpec], *, groups: tuple | list | None = None
) -> pd.DataFrame:
    """Tidy table: one row per spec, columns suffixed ``_1``/``_2`` for the two groups."""
    rows = []
    for s in specs:
        r = compare_groups(
            frame,
            s.variable,
            group,
            groups=groups,
            kind=s.kind,
            test=s.test,
            levels=s.levels,
            label=s.label,
            subset=s.subset,
            footnote=s.footnote,
        )
        row = {
            "variable": r.variable,
            "label": r.label,
            "kind": r.kind,
            "test": r.test,
            "p_method": r.p_method,
            "group_1": r.groups[0],
            "group_2": r.groups[1],
            "n_1": r.n[0],
            "n_2": r.n[1],
            "n_missing_1": r.n_missing[0],
            "n_missing_2": r.n_missing[1],
            "mean_1": r.mean[0] if r.mean else math.nan,
            "mean_2": r.mean[1] if r.mean else math.nan,
            "sd_1": r.sd[0] if r.sd else math.nan,
            "sd_2": r.sd[1] if r.sd else math.nan,
            "level_a": r.levels[0] if r.levels else None,
            "level_b": r.levels[1] if r.levels else None,
            "count_a_1": r.counts[0][0] if r.counts else None,
            "count_b_1": r.counts[0][1] if r.counts else None,
            "count_a_2": r.counts[1][0] if r.counts else None,
            "count_b_2": r.counts[1][1] if r.counts else None,
            "statistic": r.statistic,
            "df": r.df,
            "p_value": r.p_value,
            "p_welch": r.p_welch,
            "p_normal": r.p_normal,
            "p_exact": r.p_exact,
            "cohen_d": r.cohen_d,
            "hedges_g": r.hedges_g,
            "smd": r.smd,
            "subset": r.subset,
            "footnote": r.footnote,
            "warnings": "; ".join(r.warnings),
        }
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt_p(p) -> str:
    if p is None or not np.isfinite(p):
        return "NA"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _fmt_num(x, digits: int) -> str:
    """A number to ``digits`` decimals, or "NA" when it is undefined (the reason is in the
    row's warnings, printed under the table): never "nan"."""
    if x is None or not np.isfinite(x):
        return "NA"
    return f"{x:.{digits}f}"


def render_markdown(table: pd.DataFrame, *, digits: int = 1, title: str | None = None) -> str:
    """Markdown rendering: mean ± SD or counts a/b, n (missing) per group, p with test mark."""
    g1, g2 = table["group_1"].iloc[0], table["group_2"].iloc[0]
    marks = {"t": "ᵃ", "fisher": "ᵇ", "mannwhitney": "ᶜ", "none": ""}
    lines = []
    if title:
        lines += [f"**{title}**", ""]
    lines.append(f"| Parameter | {g1} | {g2} | p | SMD |")
    lines.append("|---|---|---|---|---|")
    notes = []
    for _, r in table.iterrows():
        cells = []
        for k in ("1", "2"):
            if r["kind"] == "binary":
                c = f"{int(r[f'count_a_{k}'])}/{int(r[f'count_b_{k}'])}"
            else:
                c = f"{_fmt_num(r[f'mean_{k}'], digits)} ± {_fmt_num(r[f'sd_{k}'], digits)}"
            c += f" (n={int(r[f'n_{k}'])}" + (
                f", {int(r[f'n_missing_{k}'])} missing)" if r[f"n_missing_{k}"] else ")"
            )
            cells.append(c)
        label = r["label"]
        if r["kind"] == "binary":
            label += f" ({r['level_a']}/{r['level_b']})"
        if isinstance(r["footnote"], str) and r["footnote"]:
            notes.append(r["footnote"])
            label += "*" * len(notes)
        smd = r["smd"]
        smd_s = f"{smd:.2f}" if smd is not None and np.isfinite(smd) else "NA"
        lines.append(
            f"| {label} | {cells[0]} | {cells[1]} | {_fmt_p(r['p_value'])}{marks.get(r['test'], '')} | {smd_s} |"
        )
    lines.append("")
    lines.append(
        "ᵃ unpaired Student t test; ᵇ Fisher's exact test; ᶜ Mann-Whitney U test. "
        "SMD: Cohen's d (pooled SD) for continuous rows, difference in proportions over the "
        "pooled SD for binary rows."
    )
    for i, note in enumerate(notes, 1):
        lines.append(f"{'*' * i} {note}")
    return "\n".join(lines) + "\n"


# --- minimal forms for search loops ------------------------------------------------------


def student_t_from_sums(n1: int, s1: float, q1: float, n2: int, s2: float, q2: float) -> float:
    """Pooled-variance Student t (Student 1908; the ``"t"`` test of ``compare_groups``) from
    the count, sum and sum of squares of each group, so a search that keeps running sums
    pays O(1) per step. Group 1 minus group 2; no variance within the groups: ``inf``."""
    ss = (q1 - s1 * s1 / n1) + (q2 - s2 * s2 / n2)
    sp2 = ss / (n1 + n2 - 2)
    if sp2 <= 0:
        return math.inf
    return (s1 / n1 - s2 / n2) / math.sqrt(sp2 * (1 / n1 + 1 / n2))


def mann_whitney_abs_z(x: np.ndarray, in_first: np.ndarray) -> float:
    """|z| of the two-sided Mann-Whitney test behind ``compare_groups``' ``p_normal`` (normal
    approximation, tie-corrected variance, continuity correction 0.5; R ``wilcox.test(exact =
    FALSE, correct = TRUE)``): p = 2 (1 - Phi(|z|)). ``x`` holds non-negative integers (values
    on their grid), so midranks come from counts in O(n + max x), without a sort;
    ``in_first`` marks group 1. No variance (all values tied): 0."""
    counts = np.bincount(x)
    first = np.bincount(x[in_first], minlength=len(counts))
    upper = np.cumsum(counts)
    avg_rank = upper - 0.5 * (counts - 1)
    n1 = int(first.sum())
    big_n = len(x)
    n2 = big_n - n1
    u = float(first @ avg_rank) - n1 * (n1 + 1) / 2
    ties = float((counts**3 - counts).sum())
    var = n1 * n2 / 12 * ((big_n + 1) - ties / (big_n * (big_n - 1)))
    if var <= 0:
        return 0.0
    return max(0.0, abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
