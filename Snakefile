# ketamine-bzd: re-analysis of ketamine trials with concomitant benzodiazepines.
# Stages: synthetic default -> ingest (per study) -> cohort -> analyses. See README.md.
from snakemake.utils import min_version

min_version("9.0")


include: "rules/config_check.smk"


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/synthetic.smk"
include: "rules/ingest.smk"
include: "rules/cohort.smk"
include: "rules/analysis.smk"
include: "rules/multiverse.smk"


# Trivial steps run on the submitting host, not as cluster jobs.
localrules:
    all,
    ingest_report,


rule all:
    default_target: True
    input:
        all_outputs(),
