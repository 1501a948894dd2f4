# Reference values for effect_size.py: effectsize::hedges_g (noncentral t CI) and t.test.
# Run from the repository root:  Rscript tests/reference/effect_size.R
# Needs: effectsize (Debian r-cran-effectsize), jsonlite. Writes tests/reference/out/effect_size.json
suppressPackageStartupMessages({library(effectsize); library(jsonlite)})
dd <- "tests/reference/data"
rd <- function(f) {
  d <- read.csv(file.path(dd, f), stringsAsFactors = FALSE)
  for (k in names(d)) if (is.character(d[[k]]) && all(d[[k]] %in% c("True", "False"))) d[[k]] <- d[[k]] == "True"
  d
}
one <- function(x, y) {
  g <- hedges_g(x, y, pooled_sd = TRUE, ci = 0.95)
  n1 <- length(x); n2 <- length(y); gg <- g$Hedges_g
  se <- sqrt((n1 + n2) / (n1 * n2) + gg^2 / (2 * (n1 + n2)))
  tt <- t.test(x, y, var.equal = TRUE)
  list(g = gg, ci = c(g$CI_low, g$CI_high), ci_normal = gg + c(-1, 1) * qnorm(0.975) * se,
       d = cohens_d(x, y, pooled_sd = TRUE)$Cohens_d, t = unname(tt$statistic), p = tt$p.value,
       p_welch = t.test(x, y)$p.value)
}
out <- list()
for (f in c("paper_shaped", "ties_zeros")) {
  d <- rd(paste0(f, ".csv"))
  for (v in c("madrs_rel_change_day1", "madrs_rel_change_day3", "madrs_rel_change_day7"))
    out[[f]][[v]] <- one(d[[v]][!d$bzd_plus], d[[v]][d$bzd_plus])  # BZD- minus BZD+
}
out$small <- one(c(1, 2, 3, 4, 5), c(3, 4, 5, 6, 7, 9))
write_json(out, "tests/reference/out/effect_size.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("ok\n")
