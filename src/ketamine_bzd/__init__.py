"""ketamine-bzd: re-analysis of ketamine trials with concomitant benzodiazepines.

Package layout (see docs/):
- ``canonical``: the study-independent tables every adapter produces (the ingest contract).
- ``formats``: one adapter per raw export format (read and, for the synthetic default, write).
- ``synthetic``: the synthetic cohort shaped like the paper's tables.
- ``equivalents``: diazepam / fluoxetine dose-equivalence tables.
- ``cohort``: merge studies and derive the analysis variables (each defined once).
- ``stats``: the paper's statistics; ``multiverse``: the sensitivity grid.
"""

__version__ = "0.1.0"
