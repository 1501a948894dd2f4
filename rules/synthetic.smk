rule synthetic_exports:
    """Generate every study's raw export from the synthetic cohort (the embedded default)."""
    input:
        code=package_code("synthetic", "formats", "canonical"),
        brands="resources/brands_cz.csv",
    output:
        synthetic_outputs(),
    params:
        seed=config["synthetic"]["seed"],
        n_patients=config["synthetic"]["n_patients"],
        studies={s: config["studies"][s]["format"] for s in STUDIES},
        outdir="results/synthetic",
    log:
        "results/logs/synthetic_exports.log",
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/synthetic_exports.py"
