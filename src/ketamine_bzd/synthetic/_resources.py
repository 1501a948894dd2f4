"""Reference tables the generator reads from ``resources/`` (never re-typed in code).

Which copy: the one the rule passes in (``ketamine_bzd.shipped.use_resources``), else the one
shipped with the package. Each reader is cached per file path.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from ..shipped import resource_path


def ad_equivalents() -> dict[str, float]:
    """mg/day equal to fluoxetine 40 mg/day (Hayasaka et al. 2015)."""
    return _ad_equivalents(resource_path("equivalents/fluoxetine_hayasaka2015.csv"))


@cache
def _ad_equivalents(path: Path) -> dict[str, float]:
    t = pd.read_csv(path)
    return dict(zip(t["drug"], t["mg_equivalent_to_reference"].astype(float)))


def drug_classes() -> dict[str, str]:
    return _drug_classes(resource_path("drugs.csv"))


@cache
def _drug_classes(path: Path) -> dict[str, str]:
    t = pd.read_csv(path)
    return dict(zip(t["drug"], t["drug_class"]))


def brand_strengths() -> dict[str, tuple[float, ...]]:
    """Tablet strengths (mg) of the Czech brands per generic drug (ket2013 prescriptions)."""
    return _brand_strengths(resource_path("brands_cz.csv"))


@cache
def _brand_strengths(path: Path) -> dict[str, tuple[float, ...]]:
    t = pd.read_csv(path)
    return {d: tuple(sorted(set(g["strength_mg"].astype(float)))) for d, g in t.groupby("drug")}


def diazepam_per_mg() -> dict[str, float]:
    """mg diazepam per mg of drug, the paper's own table (its ref. 34; midazolam from WHO 2009)."""
    return _diazepam_per_mg(resource_path("equivalents/diazepam_paper.csv"))


@cache
def _diazepam_per_mg(path: Path) -> dict[str, float]:
    t = pd.read_csv(path)
    return dict(zip(t["drug"], t["reference_mg"].astype(float) / t["mg_equivalent_to_reference"]))
