"""Ingest adapters, one per raw export format (contract: ``docs/data-contract.md``).

Each module exposes ``FILE_ROLES`` (the files it needs; the config gives a path per role),
``write(truth, outdir) -> {role: path}`` (used for the synthetic default; byte-deterministic),
``write_parts(parts, outdir)`` (the same files from a study given in parts of whole patients)
and ``read(study, files, key) -> IngestResult`` (strict: hard errors raise
:class:`~ketamine_bzd.errors.IngestError`, soft problems are flagged or quarantined).
``ecrf_cz`` and ``spss_wide`` read column-wise (``column_reading``) and take a keyword
``partition=(index, count)``: only that partition's patients (``ketamine_bzd.partition``);
their ``read_partitions(study, files, key, count)`` yields every partition's result in turn
with each raw file decoded once (``column_reading.Decoded``; one ingest job per study), with
``text_as_categories=True`` its ratings' and intakes' text columns as categoricals.
"""

from __future__ import annotations

from . import ecrf_cz, sdtm, spss_wide
from .common import IngestResult

FORMATS = {"spss_wide": spss_wide, "ecrf_cz": ecrf_cz, "sdtm": sdtm}

__all__ = ["FORMATS", "IngestResult", "ecrf_cz", "sdtm", "spss_wide"]
