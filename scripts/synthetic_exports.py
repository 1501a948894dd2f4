"""Snakemake entry point: write the synthetic cohort's raw exports to the configured paths."""

import shutil
import tempfile
from pathlib import Path

from ketamine_bzd.formats import FORMATS
from ketamine_bzd.runner import run
from ketamine_bzd.shipped import use_resources
from ketamine_bzd.synthetic import generate_cohort_parts


def main(smk, log):
    tables = {
        "drugs.csv": smk.input.drugs,
        "brands_cz.csv": smk.input.brands,
        "equivalents/diazepam_paper.csv": smk.input.diazepam_paper,
        "equivalents/fluoxetine_hayasaka2015.csv": smk.input.fluoxetine_hayasaka2015,
        "paper_numbers.csv": smk.input.paper_numbers,
    }
    with use_resources(tables):  # the rule's inputs, not the package's own copy
        write_exports(smk, log)


def write_exports(smk, log):
    p = smk.params
    log.info("SYNTHETIC cohort: n_patients=%d seed=%d", p.n_patients, p.seed)
    # written part by part: memory is bounded by a part, the files are those of the whole cohort
    parts = generate_cohort_parts(n_patients=p.n_patients, seed=p.seed)
    for study, spec in p.studies.items():
        if study not in parts:
            raise ValueError(
                f"the synthetic generator makes studies {sorted(parts)}, not {study!r}; "
                "set synthetic.enabled: false to use your own exports"
            )
        n_patients = 0

        def counted(study_parts):
            nonlocal n_patients
            for part in study_parts:
                n_patients += len(part.subjects)
                yield part

        with tempfile.TemporaryDirectory() as tmp:
            written = FORMATS[spec["format"]].write_parts(counted(parts[study]), Path(tmp))
            for role, target in spec["files"].items():
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(written[role], target)
        log.info(
            "%s (%s): %d patients -> %s", study, spec["format"], n_patients, ", ".join(spec["files"].values())
        )


run(snakemake, main)  # noqa: F821
