# Reference values for mean-and-variance change points (R changepoint's cpt.meanvar, Normal,
# PELT and AMOC, MBIC), plus the mean-shift AMOC rule, for the toolkit's Python tests
# (BSD-3-Clause, like the toolkit). Written by hand; run from the repository root:
#
#     Rscript tests/reference/changepoint_meanvar.R
#
# (paths are relative to this script's folder). Reads
# tests/reference/data/changepoint_meanvar_series.csv (made by changepoint_meanvar_make_series.py)
# and writes tests/reference/changepoint_meanvar.json. See tests/reference/changepoint_meanvar.md.
#
# Two sources of the values, recorded in the JSON's `source`:
#
# * the changepoint package, when it is installed (`cpt.meanvar(y, penalty = "MBIC",
#   method = "PELT", test.stat = "Normal", minseglen = 2)` and friends); every value is then
#   also checked against the transcription below (`stopifnot`);
# * otherwise the package's published definition, transcribed line by line into plain R from
#   changepoint 2.2.4's sources: src/cost_general_functions.c (`mll_meanvar`, `mbic_meanvar`,
#   `mll_mean`, `mbic_mean`), src/PELT_one_func_minseglen.c (`PELT`, with its pruning and its
#   candidate rule), R/sumstat.R (`SumStats`), R/penalty_decision.R, R/single.norm.R
#   (`single.meanvar.norm.calc`, `single.mean.norm.calc` and the MBIC adjustment) and
#   R/decision.R. The Debian archive has no r-cran-changepoint, so the committed JSON comes
#   from this transcription.
#
# Besides R's PELT the script records the exact optimum of the same penalised cost (optimal
# partitioning over every segmentation with segments of at least minseglen), so the tests can
# tell R's PELT answer from the minimum where PELT's pruning discards it.

suppressPackageStartupMessages(library(jsonlite))

args_all <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args_all[grep("^--file=", args_all)])
here <- if (length(script)) dirname(normalizePath(script)) else getwd()

have_pkg <- requireNamespace("changepoint", quietly = TRUE)
d <- read.csv(file.path(here, "data", "changepoint_meanvar_series.csv"), comment.char = "#")

# ---- cost functions (src/cost_general_functions.c) ---------------------------------------
# x = sum of the segment's data, x2 = sum of squares, n = length
mll_meanvar <- function(x, x2, n) {
  sigsq <- (x2 - (x * x) / n) / n
  if (sigsq <= 0) sigsq <- 0.00000000001
  n * (log(2 * pi) + log(sigsq) + 1)
}
mbic_meanvar <- function(x, x2, n) mll_meanvar(x, x2, n) + log(n)
mll_mean <- function(x, x2, n) x2 - (x * x) / n
mbic_mean <- function(x, x2, n) x2 - (x * x) / n + log(n)

# ---- PELT (src/PELT_one_func_minseglen.c), positions 0..n stored at index + 1 -------------
pelt_c <- function(y, pen, cost, minseglen) {
  n <- length(y)
  s1 <- c(0, cumsum(y)); s2 <- c(0, cumsum(y^2))   # SumStats columns 1 and 2
  cf <- function(a, b) cost(s1[b + 1] - s1[a + 1], s2[b + 1] - s2[a + 1], b - a)
  lastchangelike <- numeric(n + 1); lastchangecpts <- integer(n + 1)
  lastchangelike[1] <- -pen
  for (j in minseglen:(2 * minseglen - 1)) {
    if (j <= n) { lastchangelike[j + 1] <- cf(0, j); lastchangecpts[j + 1] <- 0L }
  }
  checklist <- c(0L, as.integer(minseglen))
  if (2 * minseglen <= n) for (tstar in (2 * minseglen):n) {
    if (lastchangelike[tstar + 1] == 0) {
      tmplike <- vapply(checklist, function(c0) lastchangelike[c0 + 1] + cf(c0, tstar) + pen, 0)
      w <- which.min(tmplike)                        # the first minimum, as min_which()
      lastchangelike[tstar + 1] <- tmplike[w]
      lastchangecpts[tstar + 1] <- checklist[w]
      checklist <- checklist[tmplike <= lastchangelike[tstar + 1] + pen]
    }
    checklist <- c(checklist, as.integer(tstar - (minseglen - 1)))
  }
  cpts <- integer(0); last <- n
  while (last != 0) { cpts <- c(cpts, last); last <- lastchangecpts[last + 1] }
  list(cpts = I(sort(cpts[cpts != n])), objective = lastchangelike[n + 1])
}

# ---- the exact optimum of the same criterion (optimal partitioning) ------------------------
op_exact <- function(y, pen, cost, minseglen) {
  n <- length(y)
  s1 <- c(0, cumsum(y)); s2 <- c(0, cumsum(y^2))
  cf <- function(a, b) cost(s1[b + 1] - s1[a + 1], s2[b + 1] - s2[a + 1], b - a)
  f <- rep(Inf, n + 1); f[1] <- -pen; last <- integer(n + 1)
  for (e in minseglen:n) {
    cand <- c(0L, if (e - minseglen >= minseglen) minseglen:(e - minseglen) else integer(0))
    tot <- vapply(cand, function(s) f[s + 1] + cf(s, e) + pen, 0)
    w <- which.min(tot)                              # ties: the earliest last change
    f[e + 1] <- tot[w]; last[e + 1] <- cand[w]
  }
  cpts <- integer(0); pos <- n
  while (pos != 0) { cpts <- c(cpts, pos); pos <- last[pos + 1] }
  list(cpts = I(sort(cpts[cpts != n])), objective = f[n + 1])
}

# ---- AMOC (R/single.norm.R + R/decision.R), penalty "MBIC" -------------------------------
# Note the differences from PELT's MBIC: the location is chosen by the unpenalised likelihood,
# the last segment may be one shorter than minseglen (taustar runs to n - minseglen + 1), the
# penalty is (diffparam + 2) log n with diffparam = 1 for both cpt.mean and cpt.meanvar, MBIC
# adds log(tau) + log(n - tau + 1) to the alternative only, the variance floor is 1e-10, and a
# change is kept when null - alt >= pen.
amoc_meanvar <- function(y, minseglen = 2) {
  n <- length(y)
  yy <- c(0, cumsum(y)); y2 <- c(0, cumsum(y^2))
  null <- n * log((y2[n + 1] - (yy[n + 1]^2 / n)) / n)
  taustar <- minseglen:(n - minseglen + 1)
  sigma1 <- ((y2[taustar + 1] - (yy[taustar + 1]^2 / taustar)) / taustar)
  sigma1[sigma1 <= 0] <- 1 * 10^(-10)
  sigman <- ((y2[n + 1] - y2[taustar + 1]) - ((yy[n + 1] - yy[taustar + 1])^2 / (n - taustar))) /
    (n - taustar)
  sigman[sigman <= 0] <- 1 * 10^(-10)
  tmp <- taustar * log(sigma1) + (n - taustar) * log(sigman)
  tau <- which(tmp == min(tmp, na.rm = TRUE))[1]
  alt <- tmp[tau]
  tau <- tau + minseglen - 1
  alt <- alt + log(tau) + log(n - tau + 1)
  pen <- (1 + 2) * log(n)
  list(tau = tau, null = null, alt = alt, pen = pen,
       cpt = if (null - alt >= pen) tau else NULL)
}
amoc_mean <- function(y, minseglen = 1) {
  n <- length(y)
  yy <- c(0, cumsum(y)); y2 <- c(0, cumsum(y^2))
  null <- y2[n + 1] - yy[n + 1]^2 / n
  taustar <- minseglen:(n - minseglen + 1)
  tmp <- y2[taustar + 1] - yy[taustar + 1]^2 / taustar + (y2[n + 1] - y2[taustar + 1]) -
    ((yy[n + 1] - yy[taustar + 1])^2) / (n - taustar)
  tau <- which(tmp == min(tmp, na.rm = TRUE))[1]
  alt <- tmp[tau]
  tau <- tau + minseglen - 1
  alt <- alt + log(tau) + log(n - tau + 1)
  pen <- (1 + 2) * log(n)
  list(tau = tau, null = null, alt = alt, pen = pen,
       cpt = if (null - alt >= pen) tau else NULL)
}

pkg_cpts <- function(fit) I(as.integer(changepoint::cpts(fit)))

fit_series <- function(name) {
  ds <- d[d$series == name, ]
  ds <- ds[order(ds$position), ]
  y <- ds$score; n <- length(y)
  out <- list(series = name, kind = ds$kind[1], n = n)
  out$meanvar_pelt_mbic <- pelt_c(y, 4 * log(n), mbic_meanvar, 2)
  out$meanvar_exact_mbic <- op_exact(y, 4 * log(n), mbic_meanvar, 2)
  out$meanvar_pelt_bic <- pelt_c(y, 3 * log(n), mll_meanvar, 2)
  out$meanvar_exact_bic <- op_exact(y, 3 * log(n), mll_meanvar, 2)
  out$mean_pelt_mbic <- pelt_c(y, 3 * log(n), mbic_mean, 1)
  out$meanvar_amoc_mbic <- amoc_meanvar(y, 2)
  out$mean_amoc_mbic <- amoc_mean(y, 1)
  if (have_pkg) {
    cp <- changepoint::cpt.meanvar
    p <- list(
      meanvar_pelt_mbic = pkg_cpts(cp(y, penalty = "MBIC", method = "PELT", test.stat = "Normal",
                                      minseglen = 2)),
      meanvar_pelt_bic = pkg_cpts(cp(y, penalty = "BIC", method = "PELT", test.stat = "Normal",
                                     minseglen = 2)),
      mean_pelt_mbic = pkg_cpts(changepoint::cpt.mean(y, penalty = "MBIC", method = "PELT",
                                                      minseglen = 1)),
      meanvar_amoc_mbic = pkg_cpts(cp(y, penalty = "MBIC", method = "AMOC", test.stat = "Normal",
                                      minseglen = 2)),
      mean_amoc_mbic = pkg_cpts(changepoint::cpt.mean(y, penalty = "MBIC", method = "AMOC",
                                                      minseglen = 1))
    )
    stopifnot(identical(as.integer(p$meanvar_pelt_mbic), as.integer(out$meanvar_pelt_mbic$cpts)),
              identical(as.integer(p$meanvar_pelt_bic), as.integer(out$meanvar_pelt_bic$cpts)),
              identical(as.integer(p$mean_pelt_mbic), as.integer(out$mean_pelt_mbic$cpts)),
              identical(as.integer(p$meanvar_amoc_mbic), as.integer(out$meanvar_amoc_mbic$cpt)),
              identical(as.integer(p$mean_amoc_mbic), as.integer(out$mean_amoc_mbic$cpt)))
    out$package <- p
  }
  out
}

res <- lapply(sort(unique(d$series)), fit_series)
misses <- sum(vapply(res, function(r) r$meanvar_pelt_mbic$objective >
                       r$meanvar_exact_mbic$objective + 1e-9, TRUE))
cat(sprintf("%d series; PELT (MBIC) above the exact optimum on %d; source: %s\n", length(res),
            misses, if (have_pkg) "changepoint package" else "transcription"))

out <- list(
  `_comment` = paste("Mean-and-variance change points (R changepoint's cpt.meanvar, Normal) for the",
                     "toolkit's tests; produced by `Rscript tests/reference/changepoint_meanvar.R`",
                     "(BSD-3-Clause). See tests/reference/changepoint_meanvar.md."),
  source = if (have_pkg) paste("changepoint package", as.character(packageVersion("changepoint")),
                               "(checked against the transcription)")
           else paste("transcription of changepoint 2.2.4's published sources (the package is not",
                      "installable here: Debian has no r-cran-changepoint)"),
  versions = list(R = R.version.string, jsonlite = as.character(packageVersion("jsonlite")),
                  changepoint = if (have_pkg) as.character(packageVersion("changepoint")) else NULL),
  settings = list(
    cpts = "R's convention: the last position of each segment before a change (1-based), n excluded",
    meanvar_pelt_mbic = paste("cpt.meanvar(y, penalty = 'MBIC', method = 'PELT', test.stat = 'Normal',",
                              "minseglen = 2): segment cost n_j (log(2 pi) + log(s2_j) + 1) + log(n_j),",
                              "s2_j = (sum y^2 - (sum y)^2 / n_j) / n_j floored at 1e-11; pen 4 log n",
                              "(diffparam 2); objective = PELT's lastchangelike[n]"),
    meanvar_exact_mbic = "the same criterion minimised exactly (optimal partitioning, segments >= 2, ties to the earliest last change)",
    meanvar_pelt_bic = "cpt.meanvar(..., penalty = 'BIC'): mll_meanvar cost (no log n_j), pen 3 log n",
    meanvar_exact_bic = "the BIC criterion minimised exactly",
    mean_pelt_mbic = "cpt.mean(y, penalty = 'MBIC', method = 'PELT', minseglen = 1): cost RSS_j + log(n_j) (variance 1), pen 3 log n",
    meanvar_amoc_mbic = "cpt.meanvar(y, penalty = 'MBIC', method = 'AMOC', test.stat = 'Normal', minseglen = 2): tau, null, alt (with log(tau) + log(n - tau + 1)), pen 3 log n, cpt (null when no change)",
    mean_amoc_mbic = "cpt.mean(y, penalty = 'MBIC', method = 'AMOC', minseglen = 1), as above with the mean cost"
  ),
  summary = list(n_series = length(res), pelt_mbic_above_exact = misses),
  series = res
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = FALSE, na = "null", null = "null"),
           file.path(here, "changepoint_meanvar.json"))
