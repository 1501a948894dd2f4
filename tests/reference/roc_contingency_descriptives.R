# Reference values for roc.py, contingency.py, descriptives.py.
# Run from the repository root:  Rscript tests/reference/roc_contingency_descriptives.R
# Needs: pROC, jsonlite. Writes tests/reference/out/roc_contingency_descriptives.json
suppressPackageStartupMessages({library(pROC); library(jsonlite)})
dd <- "tests/reference/data"
rd <- function(f) {
  d <- read.csv(file.path(dd, f), stringsAsFactors = FALSE)
  for (k in names(d)) if (is.character(d[[k]]) && all(d[[k]] %in% c("True", "False"))) d[[k]] <- d[[k]] == "True"
  d
}

roc_ref <- function(marker, status_pos) {
  # status_pos: TRUE = positive class (nonresponse), higher marker = positive
  r <- roc(controls = marker[!status_pos], cases = marker[status_pos], direction = "<", quiet = TRUE)
  ci <- ci.auc(r, method = "delong")
  co <- coords(r, "all", ret = c("threshold", "sensitivity", "specificity"), transpose = FALSE)
  best <- coords(r, "best", best.method = "youden", ret = c("threshold", "sensitivity", "specificity"),
                 transpose = FALSE)
  list(n_pos = sum(status_pos), n_neg = sum(!status_pos), auc = as.numeric(auc(r)),
       se = sqrt(var(r, method = "delong")), ci_delong = c(ci[1], ci[3]),
       coords = co, best_threshold = best$threshold, best_sens = best$sensitivity,
       best_spec = best$specificity,
       wilcox_p = wilcox.test(marker[status_pos], marker[!status_pos], exact = FALSE, correct = TRUE)$p.value)
}

out <- list()
for (f in c("paper_shaped.csv", "ties_zeros.csv", "separation.csv")) {
  d <- rd(f)
  key <- sub(".csv", "", f, fixed = TRUE)
  out$roc[[paste0(key, "_all")]] <- roc_ref(d$diazepam_eq_mg, !d$responder)
  u <- d[d$bzd_user, ]
  out$roc[[paste0(key, "_users")]] <- roc_ref(u$diazepam_eq_mg, !u$responder)
}
# Hanley & McNeil (1982) Table I: ratings 1..5, 58 normal and 51 abnormal CT images.
hm_neg <- rep(1:5, c(33, 6, 6, 11, 2)); hm_pos <- rep(1:5, c(3, 2, 2, 11, 33))
out$roc$hanley_mcneil <- roc_ref(c(hm_neg, hm_pos), c(rep(FALSE, 58), rep(TRUE, 51)))

# Fisher exact tests
fz <- function(tab) { ft <- fisher.test(tab); list(table = tab, p = ft$p.value, or = unname(ft$estimate),
                                                   ci = as.numeric(ft$conf.int)) }
out$fisher$paper_1_12_vs_12_22 <- fz(matrix(c(1, 12, 12, 22), 2, byrow = TRUE))
d <- rd("paper_shaped.csv")
out$fisher$paper_shaped_bzdplus <- fz(matrix(c(sum(d$responder & d$bzd_plus), sum(!d$responder & d$bzd_plus),
                                               sum(d$responder & !d$bzd_plus), sum(!d$responder & !d$bzd_plus)),
                                             2, byrow = TRUE))
s <- rd("separation.csv")
out$fisher$separation_bzdplus <- fz(matrix(c(sum(s$responder & s$bzd_plus), sum(!s$responder & s$bzd_plus),
                                             sum(s$responder & !s$bzd_plus), sum(!s$responder & !s$bzd_plus)),
                                           2, byrow = TRUE))
# sex F/M by responder (rows responder TRUE, FALSE; columns F, M)
out$fisher$paper_sex_by_responder <- fz(matrix(c(sum(d$responder & d$sex == "F"), sum(d$responder & d$sex == "M"),
                                                 sum(!d$responder & d$sex == "F"), sum(!d$responder & d$sex == "M")),
                                               2, byrow = TRUE))

# Two-group tests on paper_shaped, group 1 = responders (TRUE), group 2 = nonresponders
g1 <- d$responder; 
tt <- function(v) { t <- t.test(v[g1], v[!g1], var.equal = TRUE); w <- t.test(v[g1], v[!g1])
  list(t = unname(t$statistic), df = unname(t$parameter), p = t$p.value, p_welch = w$p.value) }
wt <- function(v, exact) { w <- wilcox.test(v[g1], v[!g1], exact = exact, correct = TRUE)
  list(W = unname(w$statistic), p = w$p.value) }
out$tests$age_years_t <- tt(d$age_years)
out$tests$bai_day0_t <- tt(d$bai_day0)
out$tests$madrs_day0_t <- tt(d$madrs_day0)
out$tests$madrs_day0_mw_normal <- wt(d$madrs_day0, FALSE)
out$tests$diazepam_users_mw_normal <- { u <- d[d$bzd_user, ]; w <- wilcox.test(u$diazepam_eq_mg[u$responder],
  u$diazepam_eq_mg[!u$responder], exact = FALSE, correct = TRUE); list(W = unname(w$statistic), p = w$p.value) }
# a no-ties variable for the exact p: fluoxetine_eq_mg + tiny unique jitter is avoided; use patient index order
x_nt <- d$fluoxetine_eq_mg + seq_len(nrow(d)) * 1e-3
out$tests$flx_jitter_mw_exact <- wt(x_nt, TRUE)
out$tests$flx_jitter_mw_normal <- wt(x_nt, FALSE)

write_json(out, "tests/reference/out/roc_contingency_descriptives.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("ok\n")
