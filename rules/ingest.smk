rule ingest:
    """Read one study's raw export, validate it, pseudonymize identifiers, write Parquet: the
    patients of one partition (ketamine_bzd/partition.py), one job per study and partition.
    """
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
        "results/logs/ingest/{study}/part-{part}.log",
    benchmark:
        "results/logs/benchmarks/ingest/{study}/part-{part}.tsv"
    wildcard_constraints:
        study="|".join(STUDIES),
        part=r"\d+",
    conda:
        CONDA_ENV
    resources:
        # measured: 125 MB for 47 patients, 250-330 MB for 10,000 (4 MB of raw files); the raw
        # files are read whole, the tables hold one partition
        mem_mb=lambda wc, input: int(
            mem_mb_per_partition(1000, 60)(wc, input) + 2 * input.size_mb
        ),
        runtime=15,
    params:
        format=lambda wc: config["studies"][wc.study]["format"],
        partition=lambda wc: [int(wc.part), N_PARTITIONS],
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
    """Sum the partitions and reconcile rows read = accepted + quarantined for every file of
    every study."""
    input:
        reports=expand(rules.ingest.output.report, study=STUDIES, part=PARTS),
        quarantine=expand(rules.ingest.output.quarantine, study=STUDIES, part=PARTS),
        soft_problems=expand(
            rules.ingest.output.soft_problems, study=STUDIES, part=PARTS
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
        n_partitions=N_PARTITIONS,
        code=code_hash("io", "parts", "runner"),
    script:
        "../scripts/ingest_report.py"
