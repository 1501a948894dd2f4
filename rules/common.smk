import os
from pathlib import Path

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

SRC = Path(workflow.basedir) / "src"
PACKAGE = SRC / "ketamine_bzd"
# Scripts import the package from src/ (also inside --use-conda environments, which hold only
# its dependencies); jobs re-parse this file, so cluster jobs get the same path.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p
)

CONDA_ENV = "../envs/ketamine-bzd.yaml"
STUDIES = list(config["studies"])
SYNTHETIC = config["synthetic"]["enabled"]
DATA_SOURCE = (
    f"synthetic (seed {config['synthetic']['seed']}, n={config['synthetic']['n_patients']}; not patient data)"
    if SYNTHETIC
    else "study exports"
)

# File names of each format's export; kept in step with ketamine_bzd.formats (tested).
FORMAT_FILES = {
    "spss_wide": {
        "subjects": "patients.sav",
        "medication": "medication.csv",
    },
    "ecrf_cz": {
        "subjects": "pacienti.csv",
        "ratings": "hodnoceni.csv",
        "prescriptions": "leky_predpis.csv",
        "as_needed": "leky_jednorazove.csv",
        "pk": "farmakokinetika.csv",
    },
}


def package_code(*modules):
    """Package source files a rule runs, so that editing them reruns the rule."""
    files = []
    for name in modules:
        path = PACKAGE / name
        files += sorted(path.glob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return [str(f.relative_to(workflow.basedir)) for f in files]


def study_files(study):
    """Raw export files of one study, by role."""
    spec = config["studies"][study]
    if SYNTHETIC:
        return {
            role: f"results/synthetic/{study}/{name}"
            for role, name in FORMAT_FILES[spec["format"]].items()
        }
    missing = set(FORMAT_FILES[spec["format"]]) - set(spec.get("files", {}))
    if missing:
        raise ValueError(
            f"config: study {study!r} (format {spec['format']}) lacks files for {sorted(missing)}"
        )
    return dict(spec["files"])


def synthetic_outputs():
    return [p for study in STUDIES for p in study_files(study).values()]


def ingest_inputs(wildcards):
    return study_files(wildcards.study)


def interim(study, name):
    return f"results/interim/{study}/{name}"


def diazepam_table(name=None):
    return config["equivalents"]["diazepam_tables"][
        name or config["equivalents"]["diazepam_default"]
    ]


def fluoxetine_table(name=None):
    return config["equivalents"]["fluoxetine_tables"][
        name or config["equivalents"]["fluoxetine_default"]
    ]


def all_outputs():
    return [
        "results/qc/ingest_report.csv",
        "results/qc/quarantine.csv",
        "results/cohort/patients.parquet",
        "results/cohort/visits.parquet",
        "results/cohort/medication_daily.parquet",
        "results/cohort/cohort_summary.csv",
    ]
