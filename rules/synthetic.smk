rule synthetic_exports:
    """Generate every study's raw export from the synthetic cohort (the embedded default)."""
    input:
        code=package_code("synthetic", "formats", "canonical"),
        brands="resources/brands_cz.csv",
    output:
        synthetic_outputs(),
    log:
        "results/logs/synthetic_exports.log",
    benchmark:
        "results/logs/benchmarks/synthetic_exports.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        seed=config["synthetic"]["seed"],
        n_patients=config["synthetic"]["n_patients"],
        studies={s: config["studies"][s]["format"] for s in STUDIES},
        # the folder holding one folder per study
        outdir=lambda wildcards, output: str(Path(output[0]).parents[1]),
    script:
        "../scripts/synthetic_exports.py"
