# Sensitivity analyses as a multiverse (issue 4; docs/multiverse.md). Execution is batched: one
# job per equivalence table (a slice of the grid, addressable as
# results/multiverse/slices/<table>/specifications.parquet) fits all its specifications; its
# permutations are split into multiverse.permutation_shards jobs (issue 10; permutation i
# depends only on (seed, i), so the shards join to the unsharded result bit for bit); the
# combine job joins the slices and shards for the joint inference and figures.
MULTIVERSE_DIR = "results/multiverse"
MV = config["multiverse"]
MV_TABLES = (
    list(config["equivalents"]["diazepam_tables"])
    if MV["tables"] == "all"
    else list(MV["tables"])
)
# multiverse.plots imports figures (its 'not estimable' formatting): code_hash follows imports
MV_CODE = code_hash("multiverse", "io", "runner")
PERMUTATION_KEYS = (
    "n_permutations",
    "permutation_seed",
    "permutation_firth_test",
    "permutation_shards",
)
# Parameters of the observed fits: the permutation settings do not change them (a new
# permutation count reruns only the permutation and combine jobs).
MV_OBSERVED = {k: v for k, v in MV.items() if k not in ("bootstrap", *PERMUTATION_KEYS)}
# Parameters of the permutation shards: sharding changes only how they are cut into jobs.
MV_PERMUTATION = {
    k: v for k, v in MV.items() if k not in ("bootstrap", "permutation_shards")
}
# Permutation shards per table: shard k runs permutations [k P / K, (k + 1) P / K)
# (multiverse.inference.shard_bounds), K capped at P so that no shard is empty.
MV_N_SHARDS = min(MV["permutation_shards"], MV["n_permutations"])


rule multiverse_slice:
    """All specifications of one diazepam equivalence table on the observed data."""
    input:
        patients="results/cohort/patients.parquet",
        medication_daily=rules.cohort_merge.output.medication_daily,
        table=lambda wc: diazepam_table(wc.table),
    output:
        specifications=f"{MULTIVERSE_DIR}/slices/{{table}}/specifications.parquet",
        excluded=f"{MULTIVERSE_DIR}/slices/{{table}}/excluded.csv",
    log:
        "results/logs/multiverse/slice_{table}.log",
    benchmark:
        "results/logs/benchmarks/multiverse/slice_{table}.tsv"
    wildcard_constraints:
        table="|".join(MV_TABLES),
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        table=lambda wc: wc.table,
        multiverse=MV_OBSERVED,
        studies=STUDIES,
        data_source=DATA_SOURCE,
        code=MV_CODE,
    script:
        "../scripts/multiverse_slice.py"


rule multiverse_permutations:
    """One shard of the permutations of one table's specifications (joint inference null)."""
    input:
        patients="results/cohort/patients.parquet",
        medication_daily=rules.cohort_merge.output.medication_daily,
        table=lambda wc: diazepam_table(wc.table),
    output:
        permutations=f"{MULTIVERSE_DIR}/slices/{{table}}/permutations/{{shard}}.npz",
    log:
        "results/logs/multiverse/permutations_{table}_{shard}.log",
    benchmark:
        "results/logs/benchmarks/multiverse/permutations_{table}_{shard}.tsv"
    wildcard_constraints:
        table="|".join(MV_TABLES),
        shard=r"\d+",
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        table=lambda wc: wc.table,
        shard=lambda wc: int(wc.shard),
        n_shards=MV_N_SHARDS,
        multiverse=MV_PERMUTATION,
        studies=STUDIES,
        code=MV_CODE,
    script:
        "../scripts/multiverse_permutations.py"


rule multiverse_combine:
    """Specification table, Simonsohn-Simmons-Nelson joint inference and figures."""
    input:
        specifications=expand(
            rules.multiverse_slice.output.specifications, table=MV_TABLES
        ),
        permutations=expand(
            rules.multiverse_permutations.output.permutations,
            table=MV_TABLES,
            shard=range(MV_N_SHARDS),
        ),
    output:
        parquet=f"{MULTIVERSE_DIR}/specifications.parquet",
        csv=report(
            f"{MULTIVERSE_DIR}/specifications.csv",
            caption="../report/multiverse_specifications.rst",
            category="4. Sensitivity",
        ),
        joint=report(
            f"{MULTIVERSE_DIR}/joint_inference.json",
            caption="../report/multiverse_joint_inference.rst",
            category="4. Sensitivity",
        ),
        one_at_a_time=f"{MULTIVERSE_DIR}/one_at_a_time.csv",
        curve=report(
            f"{MULTIVERSE_DIR}/specification_curve.png",
            caption="../report/multiverse_curve.rst",
            category="4. Sensitivity",
        ),
        forest=report(
            f"{MULTIVERSE_DIR}/forest_one_at_a_time.png",
            caption="../report/multiverse_forest.rst",
            category="4. Sensitivity",
        ),
    log:
        "results/logs/multiverse/combine.log",
    benchmark:
        "results/logs/benchmarks/multiverse/combine.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        multiverse={k: v for k, v in MV.items() if k != "bootstrap"},
        tables=MV_TABLES,
        studies=STUDIES,
        dpi=config["analysis"]["figures"]["dpi"],
        data_source=DATA_SOURCE,
        code=MV_CODE,
    script:
        "../scripts/multiverse_combine.py"


rule multiverse_bootstrap:
    """Bootstrap of the ROC cut-off and Harrell's optimism-corrected AUC (paper's specification)."""
    input:
        patients="results/cohort/patients.parquet",
        medication_daily=rules.cohort_merge.output.medication_daily,
        table=diazepam_table(MV["paper"]["table"]),
    output:
        resamples=f"{MULTIVERSE_DIR}/cutoff_bootstrap.parquet",
        summary=report(
            f"{MULTIVERSE_DIR}/cutoff_bootstrap.json",
            caption="../report/multiverse_bootstrap.rst",
            category="4. Sensitivity",
        ),
        figure=report(
            f"{MULTIVERSE_DIR}/cutoff_bootstrap.png",
            caption="../report/multiverse_bootstrap.rst",
            category="4. Sensitivity",
        ),
    log:
        "results/logs/multiverse/bootstrap.log",
    benchmark:
        "results/logs/benchmarks/multiverse/bootstrap.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        # the grid without the permutation settings, which the bootstrap does not use
        multiverse={k: v for k, v in MV.items() if k not in PERMUTATION_KEYS},
        studies=STUDIES,
        dpi=config["analysis"]["figures"]["dpi"],
        data_source=DATA_SOURCE,
        code=MV_CODE,
    script:
        "../scripts/multiverse_bootstrap.py"


rule multiverse_specification:
    """One specification on demand (not part of the default target), e.g.
    results/multiverse/one/gt8mg/response_any/mean_dm1_d7/paper/all/adjusted/ml.json"""
    input:
        patients="results/cohort/patients.parquet",
        medication_daily=rules.cohort_merge.output.medication_daily,
        table=lambda wc: diazepam_table(wc.table),
    output:
        f"{MULTIVERSE_DIR}/one/{{exposure}}/{{outcome}}/{{window}}/{{table}}/{{population}}/{{adjustment}}/{{estimator}}.json",
    log:
        "results/logs/multiverse/one/{exposure}/{outcome}/{window}/{table}/{population}/{adjustment}/{estimator}.log",
    wildcard_constraints:
        table="|".join(MV_TABLES),
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        multiverse=MV_OBSERVED,
        studies=STUDIES,
        data_source=DATA_SOURCE,
        code=MV_CODE,
    script:
        "../scripts/multiverse_specification.py"


# The multiverse's outputs in the default target, read from the rules themselves (rule all);
# multiverse_specification is on demand (one specification by its path).
MULTIVERSE_OUTPUTS = [
    path
    for r in (rules.multiverse_combine, rules.multiverse_bootstrap)
    for path in r.output
]
