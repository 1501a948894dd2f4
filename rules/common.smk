from pathlib import Path

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

PACKAGE = Path(workflow.basedir) / "src" / "ketamine_bzd"
# Scripts import the installed package (`make run` installs it; with --use-conda the env's
# post-deploy script installs it into the conda env).
CONDA_ENV = "../envs/ketamine-bzd.yaml"
STUDIES = list(config["studies"])
SYNTHETIC = config["synthetic"]["enabled"]
DATA_SOURCE = (
    f"synthetic (seed {config['synthetic']['seed']}, n={config['synthetic']['n_patients']}; not patient data)"
    if SYNTHETIC
    else "study exports"
)

# File roles of each format, as ketamine_bzd.formats.*.FILE_ROLES (a test keeps them equal);
# written out here because importing the package would slow every parse.
FORMAT_ROLES = {
    "spss_wide": ("patients", "medication"),
    "ecrf_cz": ("patients", "ratings", "prescriptions", "prn"),
}


def mem_mb_scaled(base_mb, mb_per_input_mb):
    """Memory that grows with the rule's input (measured: docs/cluster.md, Sizing)."""
    return lambda wildcards, input: int(base_mb + mb_per_input_mb * input.size_mb)


def package_code(*modules):
    """Package source files a rule runs, so that editing them reruns the rule."""
    files = []
    for name in modules:
        path = PACKAGE / name
        files += (
            sorted(path.glob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        )
    return [str(f.relative_to(workflow.basedir)) for f in files]


def study_files(study):
    """Raw export files of one study, by role (checked against the format's roles)."""
    spec = config["studies"][study]
    files = spec.get("files")
    if not files:
        raise ValueError(
            f"config: study {study!r} has no files (to drop the default studies from a "
            "config of your own, run with --replace-workflow-config)"
        )
    roles = set(FORMAT_ROLES[spec["format"]])
    if set(files) != roles:
        raise ValueError(
            f"config: study {study!r} (format {spec['format']}) needs files for exactly "
            f"{sorted(roles)}, got {sorted(files)}"
        )
    return dict(files)


def synthetic_outputs():
    return (
        [p for study in STUDIES for p in study_files(study).values()]
        if SYNTHETIC
        else []
    )


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


def analysis_params(*sections):
    """The cut-off, alpha and the named sections of config["analysis"]: only what a rule uses."""
    analysis = config["analysis"]
    keep = ("bzd_cutoff_mg", "alpha", *sections)
    return {key: analysis[key] for key in keep}


def all_outputs():
    return [
        "results/qc/ingest_report.csv",
        "results/qc/quarantine.csv",
        "results/cohort/patients.parquet",
        "results/cohort/visits.parquet",
        "results/cohort/medication_daily.parquet",
        "results/cohort/cohort_summary.csv",
        *ANALYSIS_OUTPUTS,
        *MULTIVERSE_OUTPUTS,
    ]
