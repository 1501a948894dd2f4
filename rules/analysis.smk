# The paper's analyses (issue 3) on the cohort; outputs in results/analysis/ (docs/results.md).
ANALYSIS_DIR = "results/analysis"


ANALYSIS_CODE = code_hash("analysis", "paper", "io", "runner")
FIGURES = {
    "figure1": "figure1_roc",
    "figure2": "figure2_madrs_course",
    "dose_response": "dose_response",
}
MMRM_FIGURE = f"{ANALYSIS_DIR}/figures/mmrm_ls_means"
# Study heterogeneity of the paper's adjusted OR (issue 12): stats.meta, forest plot.
HETEROGENEITY_FOREST = f"{ANALYSIS_DIR}/figures/forest_heterogeneity"


rule analysis_tables:
    """Table 1 (responders vs nonresponders) and Table 2 (BZD+ vs BZD-)."""
    input:
        patients="results/cohort/patients.parquet",
    output:
        table1_csv=report(
            f"{ANALYSIS_DIR}/table1.csv",
            caption="../report/analysis_table1.rst",
            category="3. Analysis",
            subcategory="Tables",
        ),
        table1_md=f"{ANALYSIS_DIR}/table1.md",
        table2_csv=report(
            f"{ANALYSIS_DIR}/table2.csv",
            caption="../report/analysis_table2.rst",
            category="3. Analysis",
            subcategory="Tables",
        ),
        table2_md=f"{ANALYSIS_DIR}/table2.md",
    log:
        "results/logs/analysis/tables.log",
    benchmark:
        "results/logs/benchmarks/analysis/tables.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        analysis=analysis_params(),
        data_source=DATA_SOURCE,
        code=ANALYSIS_CODE,
    script:
        "../scripts/analysis_tables.py"


rule analysis_roc:
    """ROC of the diazepam-equivalent dose for nonresponse, all patients and BZD users."""
    input:
        patients="results/cohort/patients.parquet",
    output:
        roc=report(
            f"{ANALYSIS_DIR}/roc.json",
            caption="../report/analysis_roc.rst",
            category="3. Analysis",
            subcategory="ROC",
        ),
        coordinates=f"{ANALYSIS_DIR}/roc_coordinates.csv",
    log:
        "results/logs/analysis/roc.log",
    benchmark:
        "results/logs/benchmarks/analysis/roc.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        analysis=analysis_params("roc"),
        data_source=DATA_SOURCE,
        code=ANALYSIS_CODE,
    script:
        "../scripts/analysis_roc.py"


rule analysis_response_logistic:
    """Response rate by BZD group (Fisher) and logistic regressions of nonresponse."""
    input:
        patients="results/cohort/patients.parquet",
    output:
        response=report(
            f"{ANALYSIS_DIR}/response_by_group.json",
            caption="../report/analysis_response.rst",
            category="3. Analysis",
            subcategory="Response",
        ),
        logistic=report(
            f"{ANALYSIS_DIR}/logistic.json",
            caption="../report/analysis_logistic.rst",
            category="3. Analysis",
            subcategory="Response",
        ),
    log:
        "results/logs/analysis/response_logistic.log",
    benchmark:
        "results/logs/benchmarks/analysis/response_logistic.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        analysis=analysis_params("logistic"),
        data_source=DATA_SOURCE,
        code=ANALYSIS_CODE,
    script:
        "../scripts/analysis_response_logistic.py"


rule analysis_repeated_measures:
    """RM-ANOVA of MADRS (BZD group x visit), post hoc tests and the linear mixed model."""
    input:
        patients="results/cohort/patients.parquet",
    output:
        rm_anova=report(
            f"{ANALYSIS_DIR}/rm_anova.json",
            caption="../report/analysis_rm_anova.rst",
            category="3. Analysis",
            subcategory="Course of MADRS",
        ),
        posthoc=report(
            f"{ANALYSIS_DIR}/posthoc.csv",
            caption="../report/analysis_posthoc.rst",
            category="3. Analysis",
            subcategory="Course of MADRS",
        ),
        mixed=report(
            f"{ANALYSIS_DIR}/mixed_model.json",
            caption="../report/analysis_mixed_model.rst",
            category="3. Analysis",
            subcategory="Course of MADRS",
        ),
    log:
        "results/logs/analysis/repeated_measures.log",
    benchmark:
        "results/logs/benchmarks/analysis/repeated_measures.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        analysis=analysis_params("effect_size"),
        data_source=DATA_SOURCE,
        code=ANALYSIS_CODE,
    script:
        "../scripts/analysis_repeated_measures.py"


rule analysis_mmrm:
    """MMRM of the MADRS change from baseline (BZD group x visit + baseline x visit, unstructured
    covariance, REML, Satterthwaite df) and the figure of its LS means."""
    input:
        patients="results/cohort/patients.parquet",
    output:
        mmrm=report(
            f"{ANALYSIS_DIR}/mmrm.json",
            caption="../report/analysis_mmrm.rst",
            category="3. Analysis",
            subcategory="Course of MADRS",
        ),
        figure_png=report(
            f"{MMRM_FIGURE}.png",
            caption="../report/analysis_mmrm_figure.rst",
            category="3. Analysis",
            subcategory="Figures",
        ),
        figure_pdf=f"{MMRM_FIGURE}.pdf",
    log:
        "results/logs/analysis/mmrm.log",
    benchmark:
        "results/logs/benchmarks/analysis/mmrm.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        analysis=analysis_params("figures"),
        data_source=DATA_SOURCE,
        code=code_hash("analysis", "figures", "io", "runner"),
    script:
        "../scripts/analysis_mmrm.py"


rule analysis_figures:
    """Figure 1 (ROC), Figure 2 (MADRS course by group) and the dose-response plot."""
    input:
        patients="results/cohort/patients.parquet",
        roc=rules.analysis_roc.output.roc,
        coordinates=rules.analysis_roc.output.coordinates,
        logistic=rules.analysis_response_logistic.output.logistic,
        posthoc=rules.analysis_repeated_measures.output.posthoc,
    output:
        figure1_png=report(
            f"{ANALYSIS_DIR}/figures/{FIGURES['figure1']}.png",
            caption="../report/analysis_figure1.rst",
            category="3. Analysis",
            subcategory="Figures",
        ),
        figure1_pdf=f"{ANALYSIS_DIR}/figures/{FIGURES['figure1']}.pdf",
        figure2_png=report(
            f"{ANALYSIS_DIR}/figures/{FIGURES['figure2']}.png",
            caption="../report/analysis_figure2.rst",
            category="3. Analysis",
            subcategory="Figures",
        ),
        figure2_pdf=f"{ANALYSIS_DIR}/figures/{FIGURES['figure2']}.pdf",
        dose_response_png=report(
            f"{ANALYSIS_DIR}/figures/{FIGURES['dose_response']}.png",
            caption="../report/analysis_dose_response.rst",
            category="3. Analysis",
            subcategory="Figures",
        ),
        dose_response_pdf=f"{ANALYSIS_DIR}/figures/{FIGURES['dose_response']}.pdf",
    log:
        "results/logs/analysis/figures.log",
    benchmark:
        "results/logs/benchmarks/analysis/figures.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        analysis=analysis_params("figures"),
        data_source=DATA_SOURCE,
        code=code_hash("analysis", "figures", "io", "runner"),
    script:
        "../scripts/analysis_figures.py"


rule analysis_paper_comparison:
    """Every number the paper reports next to the reproduced value (ketamine_bzd.paper)."""
    input:
        patients="results/cohort/patients.parquet",
        table1=rules.analysis_tables.output.table1_csv,
        table2=rules.analysis_tables.output.table2_csv,
        roc=rules.analysis_roc.output.roc,
        response=rules.analysis_response_logistic.output.response,
        logistic=rules.analysis_response_logistic.output.logistic,
        rm_anova=rules.analysis_repeated_measures.output.rm_anova,
        posthoc=rules.analysis_repeated_measures.output.posthoc,
        paper_numbers=shipped("paper_numbers.csv"),
    output:
        comparison=report(
            f"{ANALYSIS_DIR}/paper_comparison.csv",
            caption="../report/analysis_paper_comparison.rst",
            category="3. Analysis",
            subcategory="Comparison with the paper",
        ),
    log:
        "results/logs/analysis/paper_comparison.log",
    benchmark:
        "results/logs/benchmarks/analysis/paper_comparison.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        analysis=analysis_params(),
        data_source=DATA_SOURCE,
        code=code_hash("analysis", "paper", "io", "runner"),
    script:
        "../scripts/analysis_paper_comparison.py"


rule analysis_heterogeneity:
    """The paper's adjusted OR within each study, random-effects pooling, one-stage model."""
    input:
        patients="results/cohort/patients.parquet",
    output:
        heterogeneity=report(
            f"{ANALYSIS_DIR}/heterogeneity.json",
            caption="../report/analysis_heterogeneity.rst",
            category="3. Analysis",
            subcategory="Study heterogeneity",
        ),
        forest_png=report(
            f"{HETEROGENEITY_FOREST}.png",
            caption="../report/analysis_forest_heterogeneity.rst",
            category="3. Analysis",
            subcategory="Study heterogeneity",
        ),
        forest_pdf=f"{HETEROGENEITY_FOREST}.pdf",
    log:
        "results/logs/analysis/heterogeneity.log",
    benchmark:
        "results/logs/benchmarks/analysis/heterogeneity.tsv"
    conda:
        CONDA_ENV
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        analysis=analysis_params("logistic", "figures"),
        data_source=DATA_SOURCE,
        code=code_hash("analysis", "figures", "heterogeneity", "io", "runner"),
    script:
        "../scripts/analysis_heterogeneity.py"


# Every output of the paper's analyses, read from the rules themselves (rule all).
ANALYSIS_OUTPUTS = [
    path
    for r in (
        rules.analysis_tables,
        rules.analysis_roc,
        rules.analysis_response_logistic,
        rules.analysis_repeated_measures,
        rules.analysis_mmrm,
        rules.analysis_figures,
        rules.analysis_paper_comparison,
        rules.analysis_heterogeneity,
    )
    for path in r.output
]
