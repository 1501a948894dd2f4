rule ingest:
    """Read one study's raw export, validate it, pseudonymize identifiers, write Parquet: one
    job per study that decodes each raw file once and writes every partition's tables
    (ketamine_bzd/partition.py), partition by partition.
    """
    input:
        unpack(ingest_inputs),
        drugs=shipped("drugs.csv"),
        brands=shipped("brands_cz.csv"),
        dose_limits=shipped("max_daily_doses.csv"),
        cmdecod=shipped("sdtm_cmdecod.csv"),
    output:
        subjects=expand(
            ingest_output("{{study}}", "subjects.parquet", "{part}"), part=PARTS
        ),
        ratings=expand(
            ingest_output("{{study}}", "ratings.parquet", "{part}"), part=PARTS
        ),
        medication=expand(
            ingest_output("{{study}}", "medication.parquet", "{part}"), part=PARTS
        ),
        quarantine=expand(
            ingest_output("{{study}}", "quarantine.csv", "{part}"), part=PARTS
        ),
        report=expand(
            ingest_output("{{study}}", "ingest_report.csv", "{part}"), part=PARTS
        ),
        soft_problems=expand(
            ingest_output("{{study}}", "soft_problems.csv", "{part}"), part=PARTS
        ),
    log:
        "results/logs/ingest/{study}.log",
    benchmark:
        "results/logs/benchmarks/ingest/{study}.tsv"
    wildcard_constraints:
        study="|".join(STUDIES),
    conda:
        CONDA_ENV
    resources:
        # measured: 125 MB for 47 patients, 250-330 MB for 10,000 (4 MB of raw files); at 10^6
        # patients, 4 partitions: 2.1 GB (ket2009, 470 MB of raw files), 2.5 GB (ket2013,
        # 335 MB): the decoded raw columns plus one partition's tables
        mem_mb=mem_mb_scaled(1000, 5),
        runtime=15,
    params:
        format=lambda wc: config["studies"][wc.study]["format"],
        n_partitions=N_PARTITIONS,
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
        reports=expand(
            ingest_output("{study}", "ingest_report.csv", "{part}"),
            study=STUDIES,
            part=PARTS,
        ),
        quarantine=expand(
            ingest_output("{study}", "quarantine.csv", "{part}"),
            study=STUDIES,
            part=PARTS,
        ),
        soft_problems=expand(
            ingest_output("{study}", "soft_problems.csv", "{part}"),
            study=STUDIES,
            part=PARTS,
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
