"""Snakemake entry point: write the synthetic cohort's raw exports to the configured paths."""

import shutil
import tempfile
from pathlib import Path

from ketamine_bzd.formats import FORMATS
from ketamine_bzd.runner import run
from ketamine_bzd.shipped import use_resources
from ketamine_bzd.synthetic import generate_cohort


def main(smk, log):
    tables = {
        "drugs.csv": smk.input.drugs,
        "brands_cz.csv": smk.input.brands,
        "equivalents/diazepam_paper.csv": smk.input.diazepam_paper,
        "equivalents/fluoxetine_hayasaka2015.csv": smk.input.fluoxetine_hayasaka2015,
    }
    with use_resources(tables):  # the rule's inputs, not the package's own copy
        write_exports(smk, log)


def write_exports(smk, log):
    p = smk.params
    log.info("SYNTHETIC cohort: n_patients=%d seed=%d", p.n_patients, p.seed)
    truth = generate_cohort(n_patients=p.n_patients, seed=p.seed)
    for study, spec in p.studies.items():
        if study not in truth:
            raise ValueError(
                f"the synthetic generator makes studies {sorted(truth)}, not {study!r}; "
                "set synthetic.enabled: false to use your own exports"
            )
        with tempfile.TemporaryDirectory() as tmp:
            written = FORMATS[spec["format"]].write(truth[study], Path(tmp))
            for role, target in spec["files"].items():
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(written[role], target)
        log.info("%s (%s): %d patients -> %s", study, spec["format"],
                 len(truth[study].subjects), ", ".join(spec["files"].values()))


run(snakemake, main)  # noqa: F821
