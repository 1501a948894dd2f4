"""Dose-equivalence tables (diazepam for benzodiazepines, fluoxetine for antidepressants).

Tables are data in ``resources/equivalents/*.csv``: one row per drug with the dose in mg that
equals ``reference_mg`` of ``reference_drug`` and the source of that row. A drug missing from the
active table is an error, never a zero (dose equivalents: Ashton 2002; Hayasaka et al. 2015).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

TABLE_COLUMNS = ["drug", "mg_equivalent_to_reference", "reference_drug", "reference_mg", "source"]


class MissingEquivalentError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True)
class EquivalenceTable:
    name: str
    reference_drug: str
    reference_mg: float
    factors: dict[str, float]  # mg of reference per mg of drug
    sources: dict[str, str]

    def factor(self, drug: str) -> float:
        try:
            return self.factors[drug]
        except KeyError:
            raise MissingEquivalentError(
                f"drug {drug!r} has no entry in equivalence table {self.name!r} "
                f"({self.reference_drug} equivalents); add a sourced row or choose another table"
            ) from None

    def convert(self, drugs: pd.Series, dose_mg: pd.Series) -> pd.Series:
        """Doses in mg of the reference drug; raises for any drug missing from the table."""
        missing = sorted(set(drugs) - set(self.factors))
        if missing:
            self.factor(missing[0])
        return dose_mg * drugs.map(self.factors).astype(float)


def load_table(path: str | Path, name: str | None = None) -> EquivalenceTable:
    path = Path(path)
    frame = pd.read_csv(path)
    missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"equivalence table {path}: missing column(s) {missing}")
    references = frame[["reference_drug", "reference_mg"]].drop_duplicates()
    if len(references) != 1:
        raise ValueError(f"equivalence table {path}: rows use more than one reference dose")
    if frame["drug"].duplicated().any():
        dup = frame.loc[frame["drug"].duplicated(), "drug"].iloc[0]
        raise ValueError(f"equivalence table {path}: drug {dup!r} listed twice")
    bad = frame[~(frame["mg_equivalent_to_reference"] > 0)]
    if len(bad):
        row = bad.index[0]
        raise ValueError(
            f"equivalence table {path}: row {row + 1}, column 'mg_equivalent_to_reference', "
            f"value {bad.iloc[0]['mg_equivalent_to_reference']!r}: must be a positive number"
        )
    if frame["source"].isna().any():
        row = frame.index[frame["source"].isna()][0]
        raise ValueError(f"equivalence table {path}: row {row + 1} has no source")
    ref_drug, ref_mg = references.iloc[0]
    factors = dict(zip(frame["drug"], float(ref_mg) / frame["mg_equivalent_to_reference"]))
    return EquivalenceTable(
        name=name or path.stem,
        reference_drug=str(ref_drug),
        reference_mg=float(ref_mg),
        factors=factors,
        sources=dict(zip(frame["drug"], frame["source"])),
    )
