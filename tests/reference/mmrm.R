# Reference values for mmrm.py: MMRM of the change from baseline (days 1, 3, 7) on
# group * visit + baseline * visit, unstructured covariance, REML, fitted as
#   nlme::gls(correlation = corSymm(form = ~ visit_index | id), weights = varIdent(form = ~ 1 | visit))
# (= SAS PROC MIXED TYPE=UN), LS means and group differences by emmeans with
# mode = "satterthwaite". For gls fits emmeans 1.8.4 says "Analytical Satterthwaite method not
# available; using appx-satterthwaite": its df come from numerical derivatives of vcov(fit) and
# nlme's numerical apVar, so they are approximate (docs/methods.md states the agreement).
# LS means at the mean baseline of the analysed patients (one value per patient).
# Run from the repository root:  Rscript tests/reference/mmrm.R
# Needs: nlme, emmeans, jsonlite. Writes tests/reference/out/mmrm.json
suppressPackageStartupMessages({library(nlme); library(emmeans); library(jsonlite)})
dd <- "tests/reference/data"
rd <- function(f) {
  d <- read.csv(file.path(dd, f), stringsAsFactors = FALSE)
  for (k in names(d)) if (is.character(d[[k]]) && all(d[[k]] %in% c("True", "False"))) d[[k]] <- d[[k]] == "True"
  d
}
visits <- c("madrs_day1", "madrs_day3", "madrs_day7")
ref <- function(d, group, levels) {
  # levels = c(reference, other): contrasts are other - reference (e.g. BZD+ - BZD-)
  d$base <- d$madrs_day0
  d <- d[!is.na(d$base), ]
  long <- reshape(d[, c("patient_id", group, "base", visits)], direction = "long", varying = visits,
                  v.names = "madrs", timevar = "visit", times = c("day1", "day3", "day7"), idvar = "patient_id")
  long <- long[!is.na(long$madrs), ]
  long <- long[order(long$patient_id, long$visit), ]
  long$chg <- long$madrs - long$base
  long$grp <- factor(as.character(long[[group]]), levels = levels)
  long$visit <- factor(long$visit, levels = c("day1", "day3", "day7"))
  long$visit_index <- as.integer(long$visit)
  long$id <- factor(long$patient_id)
  bm <- mean(d$base[d$patient_id %in% long$patient_id])
  fit <- gls(chg ~ grp * visit + base * visit, data = long,
             correlation = corSymm(form = ~ visit_index | id), weights = varIdent(form = ~ 1 | visit),
             method = "REML", control = glsControl(maxIter = 1000, msMaxIter = 1000, tolerance = 1e-10,
                                                   msTol = 1e-12, returnObject = FALSE))
  one <- function(mode) {
    em <- emmeans(fit, ~ grp | visit, mode = mode, at = list(base = bm), data = long)
    lm <- as.data.frame(summary(em))
    pr <- as.data.frame(summary(pairs(em, reverse = TRUE), infer = c(TRUE, TRUE), adjust = "none"))
    list(ls_visit = as.character(lm$visit), ls_group = as.character(lm$grp), ls_estimate = lm$emmean,
         ls_se = lm$SE, ls_df = lm$df, ls_lower = lm$lower.CL, ls_upper = lm$upper.CL,
         contrast = as.character(pr$contrast), estimate = pr$estimate, se = pr$SE, df = pr$df,
         t = pr$t.ratio, p = pr$p.value, lower = pr$lower.CL, upper = pr$upper.CL)
  }
  list(n_obs = nrow(long), n_patients = length(unique(long$patient_id)), baseline_mean = bm,
       names = names(coef(fit)), beta = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))),
       loglik = as.numeric(logLik(fit)), sigma = unname(matrix(as.numeric(getVarCov(fit)), 3, 3)),
       satterthwaite = one("satterthwaite"))
}
out <- list(
  paper_shaped = ref(rd("paper_shaped.csv"), "bzd_plus", c("FALSE", "TRUE")),
  missing_visits = ref(rd("missing_visits.csv"), "bzd_plus", c("FALSE", "TRUE")),
  mmrm_dropout = ref(rd("mmrm_dropout.csv"), "bzd_plus", c("FALSE", "TRUE")),
  sphericity_violated = ref(rd("sphericity_violated.csv"), "group", c("BZD-", "BZD+"))
)
out$R <- R.version.string
out$packages <- list(nlme = as.character(packageVersion("nlme")), emmeans = as.character(packageVersion("emmeans")))
write_json(out, "tests/reference/out/mmrm.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("ok\n")
