rule synthetic_exports:
    """Generate every study's raw export from the synthetic cohort (the embedded default)."""
    input:
        drugs=shipped("drugs.csv"),
        brands=shipped("brands_cz.csv"),
        diazepam_paper=shipped("equivalents/diazepam_paper.csv"),
        fluoxetine_hayasaka2015=shipped("equivalents/fluoxetine_hayasaka2015.csv"),
        paper_numbers=shipped("paper_numbers.csv"),
    output:
        synthetic_outputs(),
    log:
        "results/logs/synthetic_exports.log",
    benchmark:
        "results/logs/benchmarks/synthetic_exports.tsv"
    conda:
        CONDA_ENV
    resources:
        # measured: 205 MB / 3 s for 47 patients, 400 MB / 18 s for 10,000
        mem_mb=1000 + config["synthetic"]["n_patients"] // 25,
        runtime=10 + config["synthetic"]["n_patients"] // 20000,
    params:
        seed=config["synthetic"]["seed"],
        n_patients=config["synthetic"]["n_patients"],
        studies={
            s: {"format": config["studies"][s]["format"], "files": study_files(s)}
            for s in STUDIES
        },
        code=code_hash("synthetic", "formats", "runner", "shipped"),
    script:
        "../scripts/synthetic_exports.py"
