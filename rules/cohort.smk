rule cohort:
    """Merge the studies' patients of one partition, convert doses to equivalents and derive
    the analysis variables (one job per partition)."""
    input:
        subjects=[ingest_output(s, "subjects.parquet") for s in STUDIES],
        ratings=[ingest_output(s, "ratings.parquet") for s in STUDIES],
        medication=[ingest_output(s, "medication.parquet") for s in STUDIES],
        diazepam_table=diazepam_table(),
        fluoxetine_table=fluoxetine_table(),
    output:
        patients="results/cohort/parts/part-{part}/patients.parquet",
        # per study: the merged visits are sorted by study, then patient (docs/cohort.md)
        visits=expand(
            "results/cohort/parts/part-{{part}}/visits-{study}.parquet", study=STUDIES
        ),
        medication_daily="results/cohort/parts/part-{part}/medication_daily.parquet",
        signatures="results/cohort/parts/part-{part}/record_signatures.parquet",
    log:
        "results/logs/cohort/part-{part}.log",
    benchmark:
        "results/logs/benchmarks/cohort/part-{part}.tsv"
    wildcard_constraints:
        part=r"\d+",
    conda:
        CONDA_ENV
    resources:
        # measured: 145 MB for 47 patients, 385 MB for 10,000 (0.6 MB of ingested Parquet),
        # 2.2 GB for 250,000 of 10^6 (15 MB): docs/performance.md
        mem_mb=mem_mb_scaled(1000, 200),
        runtime=15,
    params:
        studies=STUDIES,
        dose_window=config["cohort"]["dose_window"],
        user_max_days_per_week=config["cohort"]["user_max_days_per_week"],
        response_min_reduction=config["cohort"]["response_min_reduction"],
        data_source=DATA_SOURCE,
        code=code_hash("cohort", "equivalents", "io", "provenance", "runner"),
    script:
        "../scripts/cohort.py"


rule cohort_merge:
    """Join the partitions into the cohort: patients as one file (streamed row group by row
    group), visits and intakes as Parquet datasets of the partitions' files; drop records
    shared between studies (judged on all partitions); summary and provenance."""
    input:
        patients=expand(rules.cohort.output.patients, part=PARTS),
        visits=visits_parts_in_row_order(rules.cohort.output.visits),
        medication_daily=expand(rules.cohort.output.medication_daily, part=PARTS),
        signatures=expand(rules.cohort.output.signatures, part=PARTS),
        ingest_report=rules.ingest_report.output.report,
    output:
        patients="results/cohort/patients.parquet",
        # Parquet datasets: one file per partition (and study), read in name order
        visits=directory("results/cohort/visits"),
        medication_daily=directory("results/cohort/medication_daily"),
        summary=report(
            "results/cohort/cohort_summary.csv",
            caption="../report/cohort_summary.rst",
            category="2. Cohort",
        ),
        provenance=report(
            "results/cohort/provenance.csv",
            caption="../report/provenance.rst",
            category="2. Cohort",
        ),
    log:
        "results/logs/cohort_merge.log",
    benchmark:
        "results/logs/benchmarks/cohort_merge.tsv"
    conda:
        CONDA_ENV
    threads: 1
    resources:
        # streams the patients' row groups; holds the record signatures and the summary's columns
        mem_mb=mem_mb_scaled(1000, 20),
        runtime=15,
    params:
        studies=STUDIES,
        studies_in_row_order=STUDIES_IN_ROW_ORDER,
        overlapping_studies=config["overlapping_studies"],
        data_source=DATA_SOURCE,
        code=code_hash("cohort", "io", "parts", "provenance", "runner"),
    script:
        "../scripts/cohort_merge.py"
