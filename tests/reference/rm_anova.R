# Reference values for rm_anova.py: afex::aov_ez (car type III) + emmeans simple effects.
# Run from the repository root:  Rscript tests/reference/rm_anova.R
# Needs: afex, emmeans, car, jsonlite. Writes tests/reference/out/rm_anova.json
suppressPackageStartupMessages({library(afex); library(emmeans); library(jsonlite)})
dd <- "tests/reference/data"
rd <- function(f) {
  d <- read.csv(file.path(dd, f), stringsAsFactors = FALSE)
  for (k in names(d)) if (is.character(d[[k]]) && all(d[[k]] %in% c("True", "False"))) d[[k]] <- d[[k]] == "True"
  d
}
visits <- c("madrs_day0", "madrs_day1", "madrs_day3", "madrs_day7")
ref <- function(d, group) {
  d$grp <- factor(as.character(d[[group]]))
  keep <- complete.cases(d[, visits])
  long <- reshape(d[keep, c("patient_id", "grp", visits)], direction = "long", varying = visits,
                  v.names = "madrs", timevar = "time", times = visits, idvar = "patient_id")
  long$time <- factor(long$time, levels = visits)
  a <- suppressMessages(aov_ez("patient_id", "madrs", long, between = "grp", within = "time", type = 3))
  s <- summary(a$Anova, multivariate = FALSE)
  uni <- as.data.frame(unclass(s$univariate.tests))
  sph <- as.data.frame(unclass(s$sphericity.tests))
  eps <- as.data.frame(unclass(s$pval.adjustments))
  em <- emmeans(a, ~ grp | time, model = "multivariate")
  pr <- pairs(em, reverse = FALSE)   # levels sorted: FALSE - TRUE, or BZD+ - BZD-
  raw <- as.data.frame(summary(pr, adjust = "none"))
  bon <- as.data.frame(summary(pr, by = NULL, adjust = "bonferroni"))
  list(n = sum(keep), terms = rownames(uni), ss = uni[["Sum Sq"]], df1 = uni[["num Df"]],
       ss_err = uni[["Error SS"]], df2 = uni[["den Df"]], f = uni[["F value"]], p = uni[["Pr(>F)"]],
       sph_terms = rownames(sph), mauchly_w = sph[["Test statistic"]], mauchly_p = sph[["p-value"]],
       gg = eps[["GG eps"]], p_gg = eps[["Pr(>F[GG])"]], hf = eps[["HF eps"]], p_hf = eps[["Pr(>F[HF])"]],
       pes = suppressMessages(afex::nice(a, es = "pes", correction = "none", sig_symbols = rep("", 4))$pes),
       contrast = as.character(raw$contrast), estimate = raw$estimate, se = raw$SE, df = raw$df,
       t = raw$t.ratio, p_raw = raw$p.value, p_bonf = bon$p.value)
}
out <- list(
  paper_shaped = ref(rd("paper_shaped.csv"), "bzd_plus"),
  sphericity_violated = ref(rd("sphericity_violated.csv"), "group"),
  missing_visits = ref(rd("missing_visits.csv"), "bzd_plus"),
  ties_zeros = ref(rd("ties_zeros.csv"), "bzd_plus")
)
write_json(out, "tests/reference/out/rm_anova.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("ok\n")
