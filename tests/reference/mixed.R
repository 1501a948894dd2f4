# Reference values for mixed.py: nlme::lme (REML, random intercept) + emmeans group contrasts.
# Run from the repository root:  Rscript tests/reference/mixed.R
# Needs: nlme, emmeans, jsonlite. Writes tests/reference/out/mixed.json
suppressPackageStartupMessages({library(nlme); library(emmeans); library(jsonlite)})
dd <- "tests/reference/data"
rd <- function(f) {
  d <- read.csv(file.path(dd, f), stringsAsFactors = FALSE)
  for (k in names(d)) if (is.character(d[[k]]) && all(d[[k]] %in% c("True", "False"))) d[[k]] <- d[[k]] == "True"
  d
}
visits <- c("madrs_day0", "madrs_day1", "madrs_day3", "madrs_day7")
ref <- function(d, group, levels) {
  long <- reshape(d[, c("patient_id", group, visits)], direction = "long", varying = visits,
                  v.names = "madrs", timevar = "time", times = visits, idvar = "patient_id")
  long <- long[!is.na(long$madrs), ]
  long$grp <- factor(as.character(long[[group]]), levels = levels)  # reference = levels[1]
  long$time <- factor(long$time, levels = visits)
  fit <- lme(madrs ~ grp * time, random = ~ 1 | patient_id, data = long, method = "REML",
             control = lmeControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-12, niterEM = 100,
                                  msTol = 1e-14, opt = "optim"))
  em <- emmeans(fit, ~ grp | time)
  pr <- as.data.frame(summary(pairs(em, reverse = TRUE), adjust = "none"))  # levels[2] - levels[1]
  bon <- as.data.frame(summary(pairs(em, reverse = TRUE), by = NULL, adjust = "bonferroni"))
  vc <- c(as.numeric(getVarCov(fit)), fit$sigma^2)
  list(n_obs = nrow(long), beta = unname(fixef(fit)), se = unname(sqrt(diag(vcov(fit)))),
       names = names(fixef(fit)), loglik = as.numeric(logLik(fit)), tau2 = vc[1], sigma2 = vc[2],
       contrast = as.character(pr$contrast), estimate = pr$estimate, ctr_se = pr$SE, df = pr$df,
       p = pr$p.value, p_bonf = bon$p.value)
}
out <- list(
  paper_shaped = ref(rd("paper_shaped.csv"), "bzd_plus", c("TRUE", "FALSE")),
  missing_visits = ref(rd("missing_visits.csv"), "bzd_plus", c("TRUE", "FALSE")),
  sphericity_violated = ref(rd("sphericity_violated.csv"), "group", c("BZD+", "BZD-"))
)
write_json(out, "tests/reference/out/mixed.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("ok\n")
