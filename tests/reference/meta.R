# Reference values for stats/meta.py (study heterogeneity of the pooled trials).
# Run from the repository root:  Rscript tests/reference/meta.R
# Needs: metafor (>= 3.0, for test = "adhoc"), brglm2, jsonlite. Writes tests/reference/out/meta.json
#  - pooling: metafor::rma(yi, vi, method = "DL" / "REML", test = "z" / "knha" / "adhoc") on
#    (a) metafor's dat.bcg (BCG vaccine trials, log risk ratios from escalc: the worked example of
#        the metafor documentation, Viechtbauer 2010, 13 studies) and
#    (b) the per-study log odds ratios of each data set below.
#    REML with control = list(threshold = 1e-12, maxiter = 1000): metafor's default stops the
#    Fisher scoring at a change < 1e-5 in tau^2, too coarse for a 1e-6 comparison.
#  - per study: the paper's model glm(nonresponse ~ bzd_plus + madrs_day0 + bai_day0); where the
#    data are separated, brglmFit(type = "AS_mean") (= Firth 1993 for logistic regression)
#    instead; the log OR and its Wald variance from summary(). One-stage: the same with
#    factor(study) added. Separation is recognised here without an LP (detectseparation is not
#    packaged for Debian; brglm2 0.9 no longer has it): after 100 IRLS iterations to 1e-14 some
#    fitted probability is within 1e-10 of 0 or 1, the divergence the LP certifies (Python uses
#    the Konis 2007 LP; the test checks both say the same for every study).
#  Data: paper_shaped (study B separated), separation (both separated), ties_zeros (B separated),
#  three_studies (paper_shaped + ties_zeros' study A as C), synthetic_default_n47_study (the
#  workflow's default synthetic cohort with its two studies).
suppressPackageStartupMessages({library(metafor); library(brglm2); library(jsonlite)})
dd <- "tests/reference/data"
rd <- function(f) {
  d <- read.csv(file.path(dd, f), stringsAsFactors = FALSE)
  for (k in names(d)) if (is.character(d[[k]])) {
    v <- ifelse(d[[k]] == "", NA, d[[k]])
    if (all(is.na(v) | v %in% c("True", "False"))) d[[k]] <- v == "True"
  }
  d$nonresponse <- as.numeric(!d$responder)
  d$bzd_plus <- as.numeric(d$bzd_plus)
  d
}
ctl <- glm.control(epsilon = 1e-14, maxit = 100)

fit_model <- function(formula, d) {
  ml <- suppressWarnings(glm(formula, data = d, family = binomial(), control = ctl))
  separated <- any(ml$fitted.values < 1e-10 | ml$fitted.values > 1 - 1e-10)
  g <- if (separated) {
    glm(formula, data = d, family = binomial(), method = "brglmFit", type = "AS_mean",
        control = list(epsilon = 1e-14, maxit = 1000))
  } else ml
  s <- summary(g)$coefficients
  list(estimator = if (separated) "firth" else "ml", separation = separated,
       log_odds_ratio = unname(s["bzd_plus", 1]), se = unname(s["bzd_plus", 2]))
}

pool <- function(yi, vi) {
  out <- list()
  for (m in c("DL", "REML")) {
    ctrl <- list(threshold = 1e-12, maxiter = 1000)
    z <- rma(yi, vi, method = m, test = "z", control = ctrl)
    hk <- rma(yi, vi, method = m, test = "knha", control = ctrl)
    ah <- rma(yi, vi, method = m, test = "adhoc", control = ctrl)
    out[[tolower(m)]] <- list(
      tau2 = z$tau2, i2_percent = z$I2, h2 = z$H2, q = z$QE, q_p_value = z$QEp,
      estimate = unname(z$b[1]), se = z$se, ci_wald = c(z$ci.lb, z$ci.ub), p_wald = z$pval,
      se_hartung_knapp = hk$se, ci_hartung_knapp = c(hk$ci.lb, hk$ci.ub), p_hartung_knapp = hk$pval,
      se_hartung_knapp_adhoc = ah$se, ci_hartung_knapp_adhoc = c(ah$ci.lb, ah$ci.ub),
      p_hartung_knapp_adhoc = ah$pval, weights_percent = unname(weights(z)))
  }
  out
}

res <- list()
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
res$dat_bcg <- c(list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)), pool(bcg$yi, bcg$vi))

f_study <- nonresponse ~ bzd_plus + madrs_day0 + bai_day0
for (f in c("paper_shaped", "separation", "ties_zeros", "three_studies", "synthetic_default_n47_study")) {
  d <- rd(paste0(f, ".csv"))
  studies <- sort(unique(d$study))
  per <- lapply(studies, function(s) c(list(study = s), fit_model(f_study, d[d$study == s, ])))
  yi <- sapply(per, `[[`, "log_odds_ratio"); vi <- sapply(per, `[[`, "se")^2
  one <- fit_model(nonresponse ~ bzd_plus + madrs_day0 + bai_day0 + factor(study), d)
  res[[f]] <- c(list(studies = per, yi = yi, vi = vi, one_stage = one), pool(yi, vi))
}
res$r_version <- R.version.string
res$metafor_version <- as.character(packageVersion("metafor"))
res$brglm2_version <- as.character(packageVersion("brglm2"))
dir.create("tests/reference/out", showWarnings = FALSE)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/out/meta.json")
