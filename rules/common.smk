import importlib.util
import os
import sys
from functools import cache
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

# Scripts import the installed package (`make run` installs it; with --use-conda the env's
# post-deploy script installs it into the conda env, from the folder named here).
CONDA_ENV = "../envs/ketamine-bzd.yaml"
# The workflow's own folder: the parent of rules/ (workflow.basedir is the user's folder when
# the workflow runs as a module; for a remote module this is a URL).
WORKFLOW_DIR = os.path.dirname(
    workflow.current_basedir.get_path_or_uri(secret_free=True).rstrip("/")
)
os.environ.setdefault("KETAMINE_BZD_WORKFLOW_DIR", WORKFLOW_DIR)
STUDIES = list(config["studies"])
# the order of the cohort's tables, sorted by study (name), then patient
STUDIES_IN_ROW_ORDER = sorted(STUDIES)
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
    "sdtm": ("dm", "ex", "qs", "cm", "sv", "suppdm", "vs", "pc"),
}
# Roles a study may leave out (as ketamine_bzd.formats.*.OPTIONAL_ROLES).
FORMAT_OPTIONAL_ROLES = {"sdtm": ("sv", "suppdm", "vs", "pc")}


def mem_mb_scaled(base_mb, mb_per_input_mb):
    """Memory that grows with the rule's input (measured: docs/cluster.md, Sizing)."""
    return lambda wildcards, input: int(base_mb + mb_per_input_mb * input.size_mb)


def package_dir():
    """Folder of the ketamine_bzd package the scripts will import (found, not imported)."""
    spec = importlib.util.find_spec("ketamine_bzd")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    local = Path(WORKFLOW_DIR) / "src" / "ketamine_bzd"
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        if local.is_dir():  # the conda env installs this very copy (post-deploy script)
            return local
    raise WorkflowError(
        "the ketamine_bzd package is not installed in Snakemake's Python: run "
        "`pip install --no-deps -e .` (or `make run`) in the workflow's folder, or use "
        "--use-conda (README, Quick start)"
    )


@cache
def codehash_module():
    """ketamine_bzd/codehash.py, loaded by path: the package itself is not imported at parse.
    Loaded once per process (kept in sys.modules), so that its per-file caches serve every rule
    and every parse in the process."""
    path = package_dir() / "codehash.py"
    loaded = sys.modules.get("ketamine_bzd_codehash")
    if loaded is None or Path(loaded.__file__) != path:
        spec = importlib.util.spec_from_file_location("ketamine_bzd_codehash", path)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        sys.modules["ketamine_bzd_codehash"] = loaded
    return loaded


def code_hash(*modules):
    """Digest of the package code a rule runs (these modules and all they import), for its
    `params:`: editing that code reruns the rule (ketamine_bzd/codehash.py)."""
    return codehash_module().code_hash(package_dir(), modules)


def shipped(name):
    """A file of the workflow's resources/, found also when the workflow runs as a module.

    Inside the working directory (a clone) it is named by its relative path, so that a moved
    or copied run folder keeps its inputs (Snakemake reruns a job whose input paths changed).
    """
    local = Path(WORKFLOW_DIR, "resources", name)
    here = Path.cwd().resolve()
    if local.is_file() and local.resolve().is_relative_to(here):
        return os.path.relpath(local.resolve(), here)
    return workflow.source_path(f"../resources/{name}")


def config_table(path):
    """An equivalence table named in the config: relative to the working directory when the
    file is there (a table of your own), else the copy shipped in the workflow's resources/
    (the default tables, when the workflow runs as a module from another folder)."""
    if Path(path).is_absolute() or Path(path).exists():
        return path
    if Path(path).parts[0] == "resources":
        return shipped(Path(*Path(path).parts[1:]).as_posix())
    raise WorkflowError(
        f"config: equivalence table {path!r} not found in {os.getcwd()}"
    )


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
    optional = set(FORMAT_OPTIONAL_ROLES.get(spec["format"], ()))
    if not roles - optional <= set(files) <= roles:
        raise ValueError(
            f"config: study {study!r} (format {spec['format']}) needs files for exactly "
            f"{sorted(roles - optional)}"
            + (f" (optional: {sorted(optional)})" if optional else "")
            + f", got {sorted(files)}"
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


def ingest_output(study, name, part="{part}"):
    """An ingest output of one partition (``part``: a number, or the ``{part}`` wildcard)."""
    return f"results/ingest/{study}/part-{part}/{name}"


def diazepam_table(name=None):
    return config_table(
        config["equivalents"]["diazepam_tables"][
            name or config["equivalents"]["diazepam_default"]
        ]
    )


def fluoxetine_table(name=None):
    return config_table(
        config["equivalents"]["fluoxetine_tables"][
            name or config["equivalents"]["fluoxetine_default"]
        ]
    )


def analysis_params(*sections):
    """The cut-off, alpha and the named sections of config["analysis"]: only what a rule uses."""
    analysis = config["analysis"]
    keep = ("bzd_cutoff_mg", "alpha", *sections)
    return {key: analysis[key] for key in keep}


def all_outputs():
    return [
        "results/qc/ingest_report.csv",
        "results/qc/quarantine.csv",
        "results/qc/soft_problems.csv",
        "results/cohort/patients.parquet",
        "results/cohort/visits",
        "results/cohort/medication_daily",
        "results/cohort/cohort_summary.csv",
        "results/cohort/provenance.csv",
        *ANALYSIS_OUTPUTS,
        *MULTIVERSE_OUTPUTS,
    ]


# ---- key, provenance and inputs as facts (docs/reliability.md, "Key, provenance and reruns")
def _key_fingerprint():
    """Resolve the key once, here in the main process, so that ingest jobs never race to create
    it; its fingerprint is an ingest param, so a changed key reruns ingest."""
    pseudonym = _stdlib_module("pseudonym")
    try:
        key = pseudonym.load_key(config["pseudonymization_key_file"])
    except pseudonym.KeyFileError as err:
        raise WorkflowError(f"config: {err}")
    return pseudonym.key_fingerprint(key)


def _raw_sha256():
    """SHA-256 of every configured raw file (None for synthetic exports, which the workflow
    writes itself). A missing file stops every run, not only the first."""
    if SYNTHETIC:
        return {s: {role: None for role in study_files(s)} for s in STUDIES}
    checksum = _stdlib_module("checksum")
    missing = [
        f"study {s!r}, file role {role!r}: {path}"
        for s in STUDIES
        for role, path in study_files(s).items()
        if not Path(path).is_file()
    ]
    if missing:
        raise WorkflowError(
            "config: configured raw file(s) not found: "
            + "; ".join(missing)
            + " (fix the path in your --configfile; nothing was run)"
        )
    return {
        s: {role: checksum.file_sha256(path) for role, path in study_files(s).items()}
        for s in STUDIES
    }


def _results_writable():
    """A results/ that cannot be written stops the run with one line, not a traceback (a trial
    write: permission bits say nothing for root, ACLs or read-only mounts)."""
    import tempfile

    results = Path("results")
    if not results.is_dir():
        return  # Snakemake creates it
    try:
        with tempfile.TemporaryFile(dir=results):
            pass
    except OSError as err:
        raise WorkflowError(
            f"results/ ({results.resolve()}) is not writable: {err.strerror}; make it "
            "writable (chmod -R u+w results) or run the workflow in a copy of the folder"
        )


_results_writable()
KEY_FINGERPRINT = _key_fingerprint()
RAW_SHA256 = _raw_sha256()


def _check_overlapping_studies():
    named = {s for group in config["overlapping_studies"] for s in group}
    unknown = sorted(named - set(STUDIES))
    if unknown:
        raise WorkflowError(
            f"config: overlapping_studies names {unknown}, not configured under studies "
            f"({', '.join(STUDIES)})"
        )


_check_overlapping_studies()


# ---- partitions of patients (issue 10; ketamine_bzd/partition.py, docs/performance.md)
# Ingest and cohort run once per partition; K is the same for every study and is fixed here,
# at parse time, from a cheap estimate of the number of patients (no data file is parsed).
def _count_lines(path, chunk_bytes=1 << 24):
    """Line terminators in a text file, counted in chunks (bytes, any 8-bit encoding)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _patients_in_file(path):
    """Rows of a study's patients file (its header excluded): an estimate, 0 if unreadable
    (ingest then names the problem)."""
    suffix = Path(path).suffix.lower()
    try:
        if suffix in (".sav", ".zsav", ".xpt"):
            import pyreadstat

            reader = pyreadstat.read_sav if suffix != ".xpt" else pyreadstat.read_xport
            return int(reader(path, metadataonly=True)[1].number_rows or 0)
        return max(0, _count_lines(path) - 1)
    except Exception:
        return 0


def _estimated_patients():
    """Patients of all studies: the synthetic size, or the rows of each patients file."""
    if SYNTHETIC:
        return config["synthetic"]["n_patients"]
    role = {"sdtm": "dm"}
    return sum(
        _patients_in_file(
            study_files(s)[role.get(config["studies"][s]["format"], "patients")]
        )
        for s in STUDIES
    )


PATIENTS_PER_PARTITION = config["partitioning"]["patients_per_partition"]
# as ketamine_bzd.partition.n_partitions (a test keeps them equal)
N_PARTITIONS = max(1, -(-_estimated_patients() // PATIENTS_PER_PARTITION))
PARTS = list(range(N_PARTITIONS))


def visits_parts_in_row_order(patterns):
    """The cohort jobs' visits files (``patterns``: one per study of ``STUDIES``, with a
    ``{part}`` wildcard) in the merged visits' row order: studies by name, as the table is
    sorted by study and then patient, each study's partitions in order."""
    by_study = dict(zip(STUDIES, patterns))
    return [f for s in STUDIES_IN_ROW_ORDER for f in expand(by_study[s], part=PARTS)]
