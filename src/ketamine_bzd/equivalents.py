"""Dose-equivalence tables (diazepam for benzodiazepines, fluoxetine for antidepressants).

Tables are data in ``resources/equivalents/*.csv``: one row per drug with the dose in mg that
equals ``reference_mg`` of ``reference_drug`` and the source of that row. A drug missing from the
active table is an error, never a zero (dose equivalents: Ashton 2002; Hayasaka et al. 2015).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ResourceError
from .resource_tables import Column, read_resource

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
        # each distinct drug looked up once (a registry has millions of intakes, few drugs)
        codes, names = pd.factorize(drugs, use_na_sentinel=False)
        missing = sorted(set(names) - set(self.factors))
        if missing:
            self.factor(missing[0])
        factor = np.array([self.factors[d] for d in names], float)[codes]
        return dose_mg * pd.Series(factor, index=drugs.index)


TABLE_SPEC = [
    Column("drug"),
    Column("mg_equivalent_to_reference", "positive"),
    Column("reference_drug"),
    Column("reference_mg", "positive"),
    Column("source", empty="no source (every row must cite where its equivalence comes from)"),
]


def load_table(path: str | Path, name: str | None = None) -> EquivalenceTable:
    """Read and validate an equivalence table; a malformed one raises
    :class:`~ketamine_bzd.errors.ResourceError` naming file, row, column and value."""
    path = Path(path)
    rows = read_resource(path, TABLE_SPEC, key="drug")
    ref_drug, ref_mg = rows[0]["reference_drug"], rows[0]["reference_mg"]
    for r in rows:
        if (r["reference_drug"], r["reference_mg"]) != (ref_drug, ref_mg):
            raise ResourceError(
                path,
                f"rows use more than one reference dose ({ref_mg:g} mg {ref_drug} in the first row)",
                row=r["_row"],
                column="reference_mg",
                value=r["reference_mg"],
            )
    return EquivalenceTable(
        name=name or path.stem,
        reference_drug=str(ref_drug),
        reference_mg=float(ref_mg),
        factors={r["drug"]: float(ref_mg) / r["mg_equivalent_to_reference"] for r in rows},
        sources={r["drug"]: r["source"] for r in rows},
    )
