# Reference values for logistic.py (ML glm + Firth).
# Run from the repository root:  Rscript tests/reference/logistic.R
# Needs: MASS, brglm2, jsonlite. Writes tests/reference/out/logistic.json
#  - ML: glm(); Wald CI/p from summary(); confint() (MASS profile + spline, as R >= 4.4 stats);
#    an exact profile CI by uniroot on the offset-fit deviance; LRT p by refitting without the term.
#  - Firth: brglm2::brglmFit(type = "AS_mean") (= Firth 1993 for logistic regression) for the
#    estimate and SE; penalized LRT p and profile penalized-likelihood CI computed here from the
#    definition l*(b) = l(b) + 1/2 log|X'WX| (independent code, not logistf). Each profile point:
#    optim(BFGS) and Nelder-Mead from several starts (the estimate, the intercept-only fit and
#    Fisher scoring from both), keeping the highest l*. The first version of this script used
#    Fisher scoring from the estimate alone, which near separation lands on a lower local
#    maximum; its profile jumped across chi2 = 3.84 at -19.21 for the complete_separation
#    intercept (a discontinuity, not a root: the profile is 3.34 there) and stored that as the
#    limit. The limit is -21.03 (firthmodels' Venzon-Moolgavkar search agrees).
#  - synthetic_*: the project's synthetic cohorts (seed 7 / 30 patients, where the first
#    version of fit_logistic failed with a singular matrix, and the default seed 20200819 /
#    47 patients, where its Firth fit reported non-convergence); see export_synthetic.py.
suppressPackageStartupMessages({library(MASS); library(brglm2); library(jsonlite)})
dd <- "tests/reference/data"
rd <- function(f) {
  d <- read.csv(file.path(dd, f), stringsAsFactors = FALSE)
  for (k in names(d)) if (is.character(d[[k]])) {
    v <- ifelse(d[[k]] == "", NA, d[[k]])
    if (all(is.na(v) | v %in% c("True", "False"))) d[[k]] <- v == "True"
  }
  d
}
crit <- qchisq(0.95, 1)

ml_ref <- function(X, y) {
  fit <- glm.fit(X, y, family = binomial(), control = glm.control(epsilon = 1e-14, maxit = 100))
  g <- glm(y ~ 0 + X, family = binomial(), control = glm.control(epsilon = 1e-14, maxit = 100))
  s <- summary(g)$coefficients
  ci_mass <- suppressMessages(confint(g))
  dev <- fit$deviance
  dev_fixed <- function(j, t) {
    off <- t * X[, j]; Xo <- X[, -j, drop = FALSE]
    if (ncol(Xo) == 0) { p <- plogis(off); return(-2 * sum(y * log(p) + (1 - y) * log(1 - p))) }
    glm.fit(Xo, y, offset = off, family = binomial(), control = glm.control(epsilon = 1e-14, maxit = 100))$deviance
  }
  prof <- t(sapply(seq_len(ncol(X)), function(j) {
    b <- s[j, 1]; se <- s[j, 2]; f <- function(t) dev_fixed(j, t) - dev - crit
    lo <- b - se; while (f(lo) < 0) lo <- lo - se
    hi <- b + se; while (f(hi) < 0) hi <- hi + se
    c(uniroot(f, c(lo, b), tol = 1e-13)$root, uniroot(f, c(b, hi), tol = 1e-13)$root)
  }))
  p_lrt <- sapply(seq_len(ncol(X)), function(j) pchisq(dev_fixed(j, 0) - dev, 1, lower.tail = FALSE))
  list(terms = colnames(X), estimate = unname(s[, 1]), se = unname(s[, 2]), p_wald = unname(s[, 4]),
       ci_mass = unname(ci_mass), ci_profile = unname(prof), p_lrt = p_lrt)
}

pen_ll <- function(X, y, b) {
  eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p)
  sum(y * eta - log1p(exp(eta))) + 0.5 * as.numeric(determinant(crossprod(X, X * w))$modulus)
}
pen_grad <- function(X, y, b) {
  eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p); I <- crossprod(X, X * w)
  h <- w * rowSums((X %*% solve(I)) * X)
  drop(crossprod(X, y - p + h * (0.5 - p)))
}
# maximise l* over the free coefficients with b[j] fixed: BFGS and Nelder-Mead from the given
# start, the intercept-only start and the Fisher-scoring results from both; the highest l* wins
# (l* is not concave: near separation the constrained problem has several local maxima)
pen_fixed <- function(X, y, j, val, start) {
  k0 <- c(log((sum(y) + 0.5) / (length(y) - sum(y) + 0.5)), rep(0, ncol(X) - 1))
  best <- -Inf
  for (s in list(start, k0, fisher_fixed(X, y, j, val, start), fisher_fixed(X, y, j, val, k0))) {
    b <- s; b[j] <- val; free <- setdiff(seq_along(b), j)
    f <- function(v) { bb <- b; bb[free] <- v; r <- -pen_ll(X, y, bb); if (is.finite(r)) r else 1e100 }
    gr <- function(v) { bb <- b; bb[free] <- v; -pen_grad(X, y, bb)[free] }
    o <- optim(b[free], f, gr, method = "BFGS", control = list(reltol = 1e-16, maxit = 10000))
    o <- optim(o$par, f, method = "Nelder-Mead", control = list(reltol = 1e-16, maxit = 20000))
    o <- optim(o$par, f, gr, method = "BFGS", control = list(reltol = 1e-16, maxit = 10000))
    best <- max(best, -o$value)
  }
  best
}
fisher_fixed <- function(X, y, j, val, start) {
  b <- start; b[j] <- val; free <- setdiff(seq_along(b), j)
  ll <- pen_ll(X, y, b)
  for (it in 1:300) {
    eta <- drop(X %*% b); p <- plogis(eta); w <- p * (1 - p); I <- crossprod(X, X * w)
    h <- w * rowSums((X %*% solve(I)) * X)
    U <- crossprod(X, y - p + h * (0.5 - p))[free]
    if (max(abs(U)) < 1e-11) break
    step <- solve(I[free, free, drop = FALSE], U)
    m <- max(abs(step)); if (m > 5) step <- step * 5 / m
    for (k in 1:50) { bn <- b; bn[free] <- b[free] + step; lln <- pen_ll(X, y, bn)
      if (lln >= ll - 1e-12) break; step <- step / 2 }
    b <- bn; ll <- lln
  }
  b
}
firth_ref <- function(X, y) {
  g <- glm(y ~ 0 + X, family = binomial(), method = "brglmFit", type = "AS_mean",
           control = list(epsilon = 1e-13, maxit = 500))
  s <- summary(g)$coefficients
  b <- unname(coef(g)); llmax <- pen_ll(X, y, b)
  p_lrt <- sapply(seq_along(b), function(j) pchisq(2 * (llmax - pen_fixed(X, y, j, 0, b)), 1, lower.tail = FALSE))
  prof <- t(sapply(seq_along(b), function(j) {
    f <- function(t) 2 * (llmax - pen_fixed(X, y, j, t, b)) - crit; se <- s[j, 2]
    lo <- b[j] - se; while (f(lo) < 0) lo <- lo - se
    hi <- b[j] + se; while (f(hi) < 0) hi <- hi + se
    c(uniroot(f, c(lo, b[j]), tol = 1e-12)$root, uniroot(f, c(b[j], hi), tol = 1e-12)$root)
  }))
  list(terms = colnames(X), estimate = b, se = unname(s[, 2]), p_wald = unname(s[, 4]),
       p_lrt = p_lrt, ci_profile = unname(prof), brglm2_converged = g$converged, brglm2_iter = g$iter)
}

mk <- function(d, preds) { X <- cbind(intercept = 1, as.matrix(sapply(d[, preds, drop = FALSE], as.numeric))); X }
out <- list()
d <- rd("paper_shaped.csv"); y <- as.numeric(!d$responder)
X <- mk(d, c("bzd_plus", "madrs_day0", "bai_day0"))
out$paper_bzdplus <- list(ml = ml_ref(X, y), firth = firth_ref(X, y))
X <- mk(d, c("diazepam_eq_mg", "madrs_day0", "bai_day0"))
out$paper_dose <- list(ml = ml_ref(X, y), firth = firth_ref(X, y))
d <- rd("ties_zeros.csv"); y <- as.numeric(!d$responder)
X <- mk(d, c("bzd_plus", "madrs_day0", "bai_day0"))
out$ties_bzdplus <- list(ml = ml_ref(X, y), firth = firth_ref(X, y))
d <- rd("separation.csv"); y <- as.numeric(!d$responder)
X <- mk(d, c("bzd_plus", "madrs_day0", "bai_day0"))
out$separation_bzdplus <- list(firth = firth_ref(X, y))
d <- rd("complete_separation.csv"); y <- d$y
X <- mk(d, c("x", "z"))
out$complete_separation <- list(firth = firth_ref(X, y))
for (nm in c("synthetic_seed7_n30", "synthetic_default_n47")) {
  d <- rd(paste0(nm, ".csv")); d <- d[!is.na(d$responder), ]; y <- as.numeric(!d$responder)
  X <- mk(d, c("diazepam_eq_mg", "madrs_day0", "bai_day0"))
  out[[paste0(nm, "_dose")]] <- list(n = nrow(d), ml = ml_ref(X, y), firth = firth_ref(X, y))
  X <- mk(d, c("bzd_plus", "madrs_day0", "bai_day0"))
  out[[paste0(nm, "_bzdplus")]] <- list(n = nrow(d), ml = ml_ref(X, y), firth = firth_ref(X, y))
}
write_json(out, "tests/reference/out/logistic.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("ok\n")
