"""Synthetic cohort shaped like the paper: the TRUTH tables of the two source studies.

``generate_cohort()`` returns canonical ``StudyTables`` for ``ket2009`` (EudraCT 2009-010625-39)
and ``ket2013`` (EudraCT 2013-000952-17) with raw subject codes. For the default 47 patients
the tables reproduce, through the analysis definitions (diazepam equivalent = mean daily dose of
days -1..7; responder = MADRS reduction >= 50 % at any visit; BZD+ = > 8 mg), every count of the
paper and every mean +/- SD row of its Tables 1 and 2 to the printed decimals, except the
printed values that contradict each other (``paper.DROPPED``, see ``docs/synthetic.md``).

How: one seeded draw of a 47-patient template followed by integer searches on the values
(``_fit.fit_integers``); any other size resamples the template per study with jitter.
Reference: Frontiers in Psychiatry 2020;11:844 (Results, Tables 1-2).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from ..canonical import StudyTables
from . import paper
from ._tables import STUDIES, build_tables, draw_cohort
from ._template import Template, TemplateError, build_template

__all__ = ["generate_cohort", "generate_cohort_parts", "make_template", "cached_template", "STUDIES", "paper"]

log = logging.getLogger(__name__)

DEFAULT_SEED = 20200819
MAX_ATTEMPTS = 10


def make_template(seed: int = DEFAULT_SEED) -> Template:
    """The 47-patient template for ``seed`` (deterministic; retries on fresh sub-streams)."""
    last: Exception | None = None
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([seed, 0, attempt])
        try:
            return build_template(rng, n_ket2009=round(paper.N_PATIENTS * 20 / 47))
        except TemplateError as err:  # a draw the searches could not finish: next sub-stream
            last = err
            log.debug("seed %s attempt %s: %s", seed, attempt, err)
    raise TemplateError(f"seed {seed}: no template after {MAX_ATTEMPTS} attempts ({last})")


@lru_cache(maxsize=4)
def cached_template(seed: int = DEFAULT_SEED) -> Template:
    """``make_template(seed)``, searched once per seed and process (the resampling only reads
    the template, so every ``generate_cohort`` of that seed can share it)."""
    return make_template(seed)


def generate_cohort(n_patients: int = 47, seed: int = DEFAULT_SEED) -> dict[str, StudyTables]:
    """Truth tables ``{"ket2009": StudyTables, "ket2013": StudyTables}`` of a synthetic cohort.

    ``n_patients == 47``: the paper's cohort (complete ratings, PK measured at 10/30 min).
    Other sizes: the template resampled per study (``round(n * 20 / 47)`` in ket2009) with
    jittered demographics, self-ratings and PK, new subject codes and dates, about 2 % missing
    follow-up visits and 1 % missing PK samples, PK below the limits censored.
    Same ``(n_patients, seed)`` gives identical tables.
    """
    if int(n_patients) != n_patients or n_patients < 2:
        raise ValueError(f"n_patients must be an integer >= 2, got {n_patients!r}")
    tpl = cached_template(int(seed))
    rng = np.random.default_rng([seed, 1, int(n_patients)])
    return build_tables(rng, tpl, int(n_patients))


PATIENTS_PER_PART = 100_000


def generate_cohort_parts(
    n_patients: int = 47, seed: int = DEFAULT_SEED, patients_per_part: int = PATIENTS_PER_PART
) -> dict[str, Iterator[StudyTables]]:
    """``generate_cohort(n_patients, seed)`` in parts: ``{study: iterator of StudyTables}``,
    each part at most ``patients_per_part`` patients (whole patients, in patient_id order).

    Concatenated per study, the parts' tables equal ``generate_cohort``'s (same draws: every
    random number is drawn per patient first, only the long tables are expanded per part), so
    exports of 10^6 patients can be written with memory bounded by a part
    (``formats.<format>.write_parts``).
    """
    if int(n_patients) != n_patients or n_patients < 2:
        raise ValueError(f"n_patients must be an integer >= 2, got {n_patients!r}")
    if patients_per_part < 1:
        raise ValueError(f"patients_per_part must be >= 1, got {patients_per_part!r}")
    tpl = cached_template(int(seed))
    rng = np.random.default_rng([seed, 1, int(n_patients)])
    plan = draw_cohort(rng, tpl, int(n_patients))

    def parts(study: str) -> Iterator[StudyTables]:
        k = len(plan.members(study))
        for start in range(0, max(k, 1), patients_per_part):
            yield plan.study_tables(study, start, start + patients_per_part)

    return {s: parts(s) for s in STUDIES}
