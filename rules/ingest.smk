rule ingest:
    """Read one study's raw export, validate it, pseudonymize identifiers, write Parquet."""
    input:
        unpack(ingest_inputs),
        drugs=shipped("drugs.csv"),
        brands=shipped("brands_cz.csv"),
        dose_limits=shipped("max_daily_doses.csv"),
        cmdecod=shipped("sdtm_cmdecod.csv"),
    output:
        subjects=ingest_output("{study}", "subjects.parquet"),
        ratings=ingest_output("{study}", "ratings.parquet"),
        medication=ingest_output("{study}", "medication.parquet"),
        quarantine=ingest_output("{study}", "quarantine.csv"),
        report=ingest_output("{study}", "ingest_report.csv"),
        soft_problems=ingest_output("{study}", "soft_problems.csv"),
    log:
        "results/logs/ingest/{study}.log",
    benchmark:
        "results/logs/benchmarks/ingest/{study}.tsv"
    wildcard_constraints:
        study="|".join(STUDIES),
    conda:
        CONDA_ENV
    resources:
        # measured: 125 MB for 47 patients, 250-330 MB for 10,000 (4 MB of raw files)
        mem_mb=mem_mb_scaled(1000, 60),
        runtime=15,
    params:
        format=lambda wc: config["studies"][wc.study]["format"],
        roles=lambda wc: list(study_files(wc.study)),
        options=lambda wc: config["studies"][wc.study].get("options", {}),
        key_file=config["pseudonymization_key_file"],
        # facts, not mtimes: a changed key or raw-file checksum reruns ingest
        key_fingerprint=KEY_FINGERPRINT,
        raw_sha256=lambda wc: RAW_SHA256[wc.study],
        code=code_hash(
            "checksum",
            "formats",
            "ingest",
            "io",
            "provenance",
            "pseudonym",
            "runner",
            "shipped",
            "soft_problems",
        ),
    script:
        "../scripts/ingest.py"


rule ingest_report:
    """Reconcile rows read = accepted + quarantined for every file of every study."""
    input:
        reports=expand(ingest_output("{study}", "ingest_report.csv"), study=STUDIES),
        quarantine=expand(ingest_output("{study}", "quarantine.csv"), study=STUDIES),
        soft_problems=expand(
            ingest_output("{study}", "soft_problems.csv"), study=STUDIES
        ),
    output:
        report=report(
            "results/qc/ingest_report.csv",
            caption="../report/ingest_report.rst",
            category="1. Data quality",
        ),
        quarantine=report(
            "results/qc/quarantine.csv",
            caption="../report/quarantine.rst",
            category="1. Data quality",
        ),
        soft_problems=report(
            "results/qc/soft_problems.csv",
            caption="../report/soft_problems.rst",
            category="1. Data quality",
        ),
    log:
        "results/logs/ingest_report.log",
    benchmark:
        "results/logs/benchmarks/ingest_report.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=500,
        runtime=5,
    params:
        data_source=DATA_SOURCE,
        code=code_hash("io", "runner"),
    script:
        "../scripts/ingest_report.py"
