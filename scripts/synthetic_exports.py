"""Snakemake entry point: write the synthetic cohort's raw exports (one folder per study)."""

from pathlib import Path

from ketamine_bzd.formats import FORMATS
from ketamine_bzd.runner import run
from ketamine_bzd.synthetic import generate_cohort


def main(smk, log):
    p = smk.params
    log.info("SYNTHETIC cohort: n_patients=%d seed=%d", p.n_patients, p.seed)
    truth = generate_cohort(n_patients=p.n_patients, seed=p.seed)
    for study, fmt in p.studies.items():
        if study not in truth:
            raise ValueError(
                f"the synthetic generator makes studies {sorted(truth)}, not {study!r}; "
                "set synthetic.enabled: false to use your own exports"
            )
        written = FORMATS[fmt].write(truth[study], Path(p.outdir) / study)
        log.info("%s (%s): %d patients -> %s", study, fmt, len(truth[study].subjects),
                 ", ".join(str(v) for v in written.values()))
    expected = {str(Path(o)) for o in smk.output}
    missing = [o for o in expected if not Path(o).exists()]
    if missing:
        raise RuntimeError(f"writer did not produce {missing}")


run(snakemake, main)  # noqa: F821
