"""The multiverse grid: declared dimensions, their product and the declared exclusion rules.

Specification-curve analysis (Simonsohn, Simmons & Nelson 2020, Nature Human Behaviour
4:1208-1214; Steegen et al. 2016, Perspect Psychol Sci 11:702-712): every reasonable
combination of the analysis choices is one *specification*. The choices are declared in
``config.yaml: multiverse`` (each value named, documented in ``docs/multiverse.md``); the grid is
their Cartesian product minus the combinations excluded by the declared ``exclusions`` rules,
each with its reason. Nothing is excluded by hand.

Dimensions (column names of the grid and of ``specifications.parquet``):
``exposure`` (cut-off or continuous dose coding), ``outcome``, ``window`` (dose summary),
``table`` (diazepam equivalence table), ``population``, ``adjustment`` (covariate set),
``estimator`` (``ml`` or ``firth``; for a continuous outcome ``ml`` is ordinary least squares).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd

DIMENSIONS = ("exposure", "outcome", "window", "table", "population", "adjustment", "estimator")
EXPOSURE_KINDS = ("roc", "cutoff", "median_users", "log1p", "per_10mg")
BINARY_EXPOSURE_KINDS = ("roc", "cutoff", "median_users")
OUTCOME_KINDS = ("response", "remission", "relative_change")
POPULATION_KINDS = ("all", "exclude_as_needed_only", "bzd_users", "each_study", "study")
ESTIMATORS = ("ml", "firth")
# Attributes an exclusion rule may match on, besides the dimension names themselves.
RULE_KEYS = DIMENSIONS + ("exposure_kind", "outcome_kind", "population_kind")


@dataclass(frozen=True)
class Exposure:
    name: str
    kind: str  # roc | cutoff | median_users | log1p | per_10mg
    mg: float | None = None  # cutoff: exposed if dose > mg (MedCalc criterion ">mg")

    @property
    def binary(self) -> bool:
        return self.kind in BINARY_EXPOSURE_KINDS


@dataclass(frozen=True)
class Outcome:
    name: str
    kind: str  # response | remission | relative_change
    visits: tuple[str, ...] = ()
    min_reduction: float = 0.5
    max_score: float = 10.0

    @property
    def binary(self) -> bool:
        return self.kind != "relative_change"


@dataclass(frozen=True)
class Window:
    name: str
    days: tuple[int, int]
    summary: str  # mean | max | first (definitions.dose_exposure)


@dataclass(frozen=True)
class Population:
    name: str
    kind: str  # all | exclude_as_needed_only | bzd_users | study
    study: str | None = None


@dataclass(frozen=True)
class Grid:
    """The declared dimension values and the resulting specifications."""

    exposures: dict[str, Exposure]
    outcomes: dict[str, Outcome]
    windows: dict[str, Window]
    tables: tuple[str, ...]
    populations: dict[str, Population]
    adjustments: dict[str, tuple[str, ...]]
    estimators: tuple[str, ...]
    exclusions: tuple[dict, ...]
    paper: dict[str, str]
    specifications: pd.DataFrame  # one row per kept specification (spec_id, dimensions, kinds)
    excluded: pd.DataFrame  # the combinations removed, with the rule's reason


def _exposures(cfg: dict) -> dict[str, Exposure]:
    out = {}
    for name, v in cfg.items():
        kind = v["kind"]
        if kind not in EXPOSURE_KINDS:
            raise ValueError(f"multiverse exposure {name!r}: unknown kind {kind!r}")
        if kind == "cutoff" and v.get("mg") is None:
            raise ValueError(f"multiverse exposure {name!r}: a cutoff needs 'mg'")
        out[name] = Exposure(name, kind, float(v["mg"]) if kind == "cutoff" else None)
    return out


def _outcomes(cfg: dict) -> dict[str, Outcome]:
    out = {}
    for name, v in cfg.items():
        kind = v["kind"]
        if kind not in OUTCOME_KINDS:
            raise ValueError(f"multiverse outcome {name!r}: unknown kind {kind!r}")
        visits = tuple(v.get("visits", [v["visit"]] if "visit" in v else []))
        if not visits:
            raise ValueError(f"multiverse outcome {name!r}: needs 'visits' or 'visit'")
        if kind != "response" and len(visits) != 1:
            raise ValueError(f"multiverse outcome {name!r}: {kind} takes one visit")
        out[name] = Outcome(
            name, kind, visits, float(v.get("min_reduction", 0.5)), float(v.get("max_score", 10))
        )
    return out


def _populations(cfg: dict, studies: list[str]) -> dict[str, Population]:
    out = {}
    for name, v in cfg.items():
        kind = v["kind"]
        if kind == "each_study":  # one value per study, named <name>_<study>
            for s in studies:
                out[f"{name}_{s}"] = Population(f"{name}_{s}", "study", s)
        elif kind == "study":
            if v.get("study") not in studies:
                raise ValueError(f"multiverse population {name!r}: unknown study {v.get('study')!r}")
            out[name] = Population(name, "study", v["study"])
        elif kind in POPULATION_KINDS:
            out[name] = Population(name, kind)
        else:
            raise ValueError(f"multiverse population {name!r}: unknown kind {kind!r}")
    return out


def _matches(rule: dict, row: dict) -> bool:
    return all(row[key] in values for key, values in rule["when"].items())


def build_grid(multiverse: dict, tables: list[str], studies: list[str]) -> Grid:
    """The grid declared by ``config['multiverse']`` for the given diazepam tables and studies.

    Every combination of the dimension values is enumerated; a combination matching any rule
    in ``exclusions`` (all its ``when`` keys match) is moved to ``excluded`` with the rule's
    ``reason``. ``spec_id`` is a stable readable key (the dimension values joined by ``|``).
    """
    exposures = _exposures(multiverse["exposures"])
    outcomes = _outcomes(multiverse["outcomes"])
    windows = {n: Window(n, tuple(v["days"]), v["summary"]) for n, v in multiverse["windows"].items()}
    for w in windows.values():
        if w.summary not in ("mean", "max", "first") or w.days[0] > w.days[1]:
            raise ValueError(f"multiverse window {w.name!r}: bad days {w.days} or summary {w.summary!r}")
    wanted = multiverse.get("tables", "all")
    tables_used = tuple(tables if wanted == "all" else wanted)
    unknown = set(tables_used) - set(tables)
    if unknown:
        raise ValueError(f"multiverse tables {sorted(unknown)} not in equivalents.diazepam_tables")
    populations = _populations(multiverse["populations"], studies)
    adjustments = {n: tuple(v) for n, v in multiverse["adjustments"].items()}
    estimators = tuple(multiverse["estimators"])
    for e in estimators:
        if e not in ESTIMATORS:
            raise ValueError(f"multiverse estimator {e!r}: use {ESTIMATORS}")
    exclusions = tuple(multiverse.get("exclusions", []))
    for rule in exclusions:
        bad = set(rule["when"]) - set(RULE_KEYS)
        if bad:
            raise ValueError(f"multiverse exclusion {rule.get('reason')!r}: unknown keys {sorted(bad)}")

    rows, dropped = [], []
    for combo in itertools.product(
        exposures, outcomes, windows, tables_used, populations, adjustments, estimators
    ):
        row = dict(zip(DIMENSIONS, combo))
        row["exposure_kind"] = exposures[row["exposure"]].kind
        row["outcome_kind"] = outcomes[row["outcome"]].kind
        row["population_kind"] = populations[row["population"]].kind
        rule = next((r for r in exclusions if _matches(r, row)), None)
        row["spec_id"] = "|".join(combo)
        if rule is None:
            rows.append(row)
        else:
            dropped.append({**row, "reason": rule["reason"]})
    cols = ["spec_id", *DIMENSIONS, "exposure_kind", "outcome_kind", "population_kind"]
    specs = pd.DataFrame(rows, columns=cols)
    excluded = pd.DataFrame(dropped, columns=[*cols, "reason"])
    paper = dict(multiverse["paper"])
    paper_id = "|".join(paper[d] for d in DIMENSIONS)
    if paper["table"] in tables_used and paper_id not in set(specs["spec_id"]):
        raise ValueError(f"the paper's specification {paper_id!r} is not in the grid")
    return Grid(
        exposures,
        outcomes,
        windows,
        tables_used,
        populations,
        adjustments,
        estimators,
        exclusions,
        paper,
        specs,
        excluded,
    )


def paper_spec_id(grid: Grid) -> str:
    return "|".join(grid.paper[d] for d in DIMENSIONS)
