"""Reference tables the generator reads from ``resources/`` (never re-typed in code)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd


def resources_dir() -> Path:
    """``resources/`` of the checkout (src layout), else of the working directory."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "resources" / "drugs.csv").exists():
            return parent / "resources"
    cwd = Path.cwd() / "resources"
    if (cwd / "drugs.csv").exists():
        return cwd
    raise FileNotFoundError("resources/ (drugs.csv) not found above the package or in the cwd")


@lru_cache(maxsize=None)
def ad_equivalents() -> dict[str, float]:
    """mg/day equal to fluoxetine 40 mg/day (Hayasaka et al. 2015)."""
    t = pd.read_csv(resources_dir() / "equivalents" / "fluoxetine_hayasaka2015.csv")
    return dict(zip(t["drug"], t["mg_equivalent_to_reference"].astype(float)))


@lru_cache(maxsize=None)
def drug_classes() -> dict[str, str]:
    t = pd.read_csv(resources_dir() / "drugs.csv")
    return dict(zip(t["drug"], t["drug_class"]))


@lru_cache(maxsize=None)
def brand_strengths() -> dict[str, tuple[float, ...]]:
    """Tablet strengths (mg) of the Czech brands per generic drug (ket2013 prescriptions)."""
    t = pd.read_csv(resources_dir() / "brands_cz.csv")
    return {d: tuple(sorted(set(g["strength_mg"].astype(float)))) for d, g in t.groupby("drug")}


@lru_cache(maxsize=None)
def diazepam_per_mg() -> dict[str, float]:
    """mg diazepam per mg of drug, the paper's own table (its ref. 34; midazolam from WHO 2009)."""
    t = pd.read_csv(resources_dir() / "equivalents" / "diazepam_paper.csv")
    return dict(zip(t["drug"], t["reference_mg"].astype(float) / t["mg_equivalent_to_reference"]))
