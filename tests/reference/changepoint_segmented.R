# Reference values for continuous one-breakpoint (broken-stick) regression from R segmented, plus
# the exact least-squares optimum by grid search, for the toolkit's Python tests (BSD-3-Clause,
# like the toolkit). Written by hand; run from the repository root:
#
#     Rscript tests/reference/changepoint_segmented.R
#
# (paths are relative to this script's folder). Reads
# tests/reference/data/changepoint_breakpoint_series.csv (made by changepoint_make_series.py) and
# writes tests/reference/changepoint_segmented.json. See tests/reference/README.md.
#
# Model per series: score = b0 + b1 * session + d * max(session - psi, 0) + e; slope after = b1 + d.

suppressPackageStartupMessages({
  library(segmented)
  library(jsonlite)
})

args_all <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args_all[grep("^--file=", args_all)])
here <- if (length(script)) dirname(normalizePath(script)) else getwd()

GRID_STEP <- 0.001
START_FRACTIONS <- c(0.2, 0.35, 0.5, 0.65, 0.8)   # extra psi starts, as fractions of [x_2, x_(n-1)]
DIGITS <- 17                                        # confint()/slope() round to `digits`: keep all

d <- read.csv(file.path(here, "data", "changepoint_breakpoint_series.csv"), comment.char = "#")
truth <- read.csv(file.path(here, "data", "changepoint_breakpoint_truth.csv"), comment.char = "#")

rss_at <- function(x, y, psi) {
  sum(lm.fit(cbind(1, x, pmax(x - psi, 0)), y)$residuals^2)
}

# Exact optimum (Hudson 1966): on each gap (x_j, x_j+1) the best join is the intersection of the two
# separate LS lines through x_1..x_j and x_j+1..x_n when it falls inside the gap; otherwise the
# optimum over that gap is at one of its ends, so also evaluate every observed session x_2..x_(n-1).
exact_optimum <- function(x, y) {
  n <- length(x)
  cand_psi <- x[2:(n - 1)]
  cand_rss <- sapply(cand_psi, function(p) rss_at(x, y, p))
  for (j in 2:(n - 2)) {
    L <- lm.fit(cbind(1, x[1:j]), y[1:j]); R <- lm.fit(cbind(1, x[(j + 1):n]), y[(j + 1):n])
    bl <- L$coefficients; br <- R$coefficients
    if (br[2] != bl[2]) {
      p <- unname((bl[1] - br[1]) / (br[2] - bl[2]))
      if (p > x[j] && p < x[j + 1]) {
        cand_psi <- c(cand_psi, p)
        cand_rss <- c(cand_rss, sum(L$residuals^2) + sum(R$residuals^2))
      }
    }
  }
  i <- which.min(cand_rss)
  list(psi = cand_psi[i], rss = cand_rss[i])
}

fit_series <- function(name) {
  ds <- d[d$series == name, ]
  ds <- ds[order(ds$session), ]
  x <- ds$session; y <- ds$score; n <- length(x)
  o <- lm(score ~ session, data = ds)
  lo <- x[2]; hi <- x[n - 1]

  # ---- segmented from several starts; keep the smallest residual sum of squares
  starts <- c(list(list(label = "npsi = 1 (segmented's default start)", psi = NULL)),
              lapply(START_FRACTIONS, function(f) list(label = sprintf("psi = %.4g", lo + f * (hi - lo)),
                                                      psi = lo + f * (hi - lo))))
  tries <- lapply(starts, function(s) {
    warn <- character(0)
    f <- withCallingHandlers(
      tryCatch(if (is.null(s$psi)) segmented(o, seg.Z = ~ session, npsi = 1)
               else segmented(o, seg.Z = ~ session, psi = s$psi),
               error = function(e) e),
      warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
    ok <- inherits(f, "segmented")
    list(start = s$label, start_psi = if (is.null(s$psi)) NA else s$psi, fit = if (ok) f else NULL,
         ok = ok, error = if (inherits(f, "error")) conditionMessage(f) else NA,
         warnings = I(warn),
         psi = if (ok) unname(f$psi[1, "Est."]) else NA,
         initial = if (ok) unname(f$psi[1, "Initial"]) else NA,
         rss = if (ok) sum(residuals(f)^2) else NA,
         iterations = if (ok) f$it else NA,
         id_warn = if (ok) isTRUE(f$id.warn) else NA)
  })
  rss <- sapply(tries, `[[`, "rss")
  start_table <- lapply(tries, function(t) t[c("start", "start_psi", "initial", "ok", "psi", "rss", "iterations",
                                                "id_warn", "error", "warnings")])
  seg <- NULL
  if (any(!is.na(rss))) {
    b <- which.min(rss); f <- tries[[b]]$fit
    ci <- confint(f, digits = DIGITS)                        # default method = "delta"
    ci_other <- lapply(c(score = "score", gradient = "gradient"), function(m) {
      w <- character(0)
      r <- withCallingHandlers(
        tryCatch(confint(f, method = m, digits = DIGITS), error = function(e) conditionMessage(e)),
        warning = function(x) { w <<- c(w, conditionMessage(x)); invokeRestart("muffleWarning") })
      if (is.character(r)) list(method = m, error = r)
      else list(method = m, lower = unname(r[1, 2]), upper = unname(r[1, 3]), warnings = I(w))
    })
    sl <- slope(f, digits = DIGITS)$session
    cf <- coef(f)
    seg <- list(
      chosen_start = tries[[b]]$start,
      psi = unname(f$psi[1, "Est."]),
      psi_se = unname(f$psi[1, "St.Err"]),
      ci = list(method = "delta", level = 0.95,
                lower = unname(ci[1, 2]), upper = unname(ci[1, 3]),
                quantile = "t with df.residual", df_residual = f$df.residual),
      ci_score = ci_other$score, ci_gradient = ci_other$gradient,
      slopes = list(before = unname(sl["slope1", "Est."]), after = unname(sl["slope2", "Est."]),
                    before_se = unname(sl["slope1", "St.Err."]), after_se = unname(sl["slope2", "St.Err."]),
                    before_ci = unname(sl["slope1", 4:5]), after_ci = unname(sl["slope2", 4:5])),
      coefficients = list(intercept = unname(cf["(Intercept)"]), session = unname(cf["session"]),
                          U1_session = unname(cf["U1.session"])),
      rss = sum(residuals(f)^2),
      sigma = summary(f)$sigma,
      iterations = f$it, id_warn = isTRUE(f$id.warn),
      n_starts_ok = sum(!is.na(rss)),
      n_starts_within_1e_8_of_best_rss = sum(abs(rss - min(rss, na.rm = TRUE)) <= 1e-8, na.rm = TRUE),
      psi_range_over_starts = range(sapply(tries, `[[`, "psi"), na.rm = TRUE)
    )
  }

  # ---- Davies test with the defaults
  dv <- davies.test(o, seg.Z = ~ session)
  davies <- list(p_value = dv$p.value, best_at = unname(dv$statistic), k = unname(dv$parameter),
                 alternative = dv$alternative, type = "lrt", method = dv$method,
                 psi_values = unname(dv$process[, "psi.values"]),
                 stat_values = unname(dv$process[, "stat.values"]))

  # ---- exact optimum: grid over [x_2, x_(n-1)] in steps of 0.001, then refine
  grid <- lo + (0:round((hi - lo) / GRID_STEP)) * GRID_STEP
  grid_rss <- vapply(grid, function(p) rss_at(x, y, p), 0)
  g <- which.min(grid_rss)
  ref <- optimize(function(p) rss_at(x, y, p),
                  c(max(lo, grid[g] - GRID_STEP), min(hi, grid[g] + GRID_STEP)), tol = 1e-12)
  ex <- exact_optimum(x, y)
  # the exact (Hudson) psi is used; the grid + optimize() search must agree with it
  stopifnot(ex$rss <= ref$objective + 1e-9, abs(ex$psi - ref$minimum) < 1e-5, ex$rss <= grid_rss[g] + 1e-12)
  opt_psi <- ex$psi
  opt_fit <- lm(score ~ session + pmax(session - opt_psi, 0), data = ds)
  ocf <- unname(coef(opt_fit))
  optimum <- list(
    grid_from = lo, grid_to = hi, grid_step = GRID_STEP, grid_n = length(grid),
    grid_psi = grid[g], grid_rss = grid_rss[g],
    refined_psi = ref$minimum, refined_rss = ref$objective,
    refine = "optimize() on [grid_psi - 0.001, grid_psi + 0.001], tol 1e-12",
    psi = opt_psi, rss = sum(residuals(opt_fit)^2),
    psi_method = "exact two-line solution (Hudson 1966): per gap, intersection of the separate LS lines if inside the gap, else observed sessions; agrees with the refined grid search",
    at_observed_session = any(abs(opt_psi - x) < 1e-6),
    intercept = ocf[1], slope_before = ocf[2], slope_after = ocf[2] + ocf[3],
    rss_linear = sum(residuals(o)^2)
  )

  comparison <- NULL
  if (!is.null(seg)) {
    comparison <- list(
      psi_segmented_minus_optimum = seg$psi - opt_psi,
      rss_segmented_minus_optimum = seg$rss - optimum$rss,
      same_optimum = abs(seg$psi - opt_psi) < 1e-3,
      rss_equal_1e_8 = seg$rss - optimum$rss < 1e-8,
      default_start_reaches_optimum = abs(tries[[1]]$psi - opt_psi) < 1e-3
    )
  }
  tr <- truth[truth$series == name, ]
  list(series = name, n = n, sessions = I(x), first_session = x[1], last_session = x[n],
       truth = list(psi = if (is.na(tr$psi)) NULL else tr$psi, slope_before = tr$slope_before,
                    slope_after = tr$slope_after, noise_sd = tr$noise_sd),
       segmented = seg, starts = start_table, davies = davies, optimum = optimum,
       comparison = comparison)
}

res <- lapply(sort(unique(d$series)), fit_series)
for (r in res) {
  s <- r$segmented
  cat(sprintf("%s n=%2d  seg psi=%s rss=%s  opt psi=%.4f rss=%.6f  davies p=%.3g  %s\n", r$series, r$n,
              if (is.null(s)) "NA" else sprintf("%.4f", s$psi), if (is.null(s)) "NA" else sprintf("%.6f", s$rss),
              r$optimum$psi, r$optimum$rss, r$davies$p_value,
              if (is.null(r$comparison)) "segmented failed" else paste(if (r$comparison$same_optimum) "" else "OTHER OPTIMUM",
                                                         if (r$comparison$rss_equal_1e_8) "" else "RSS ABOVE OPTIMUM",
                                                         if (r$comparison$default_start_reaches_optimum) "" else "DEFAULT START MISSES")))
}

out <- list(
  `_comment` = paste("Broken-stick reference values from R segmented and an exact grid search for the",
                     "toolkit's tests; produced by `Rscript tests/reference/changepoint_segmented.R`",
                     "(BSD-3-Clause). See tests/reference/README.md."),
  versions = list(R = R.version.string, segmented = as.character(packageVersion("segmented")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  settings = list(
    model = "score ~ b0 + b1 * session + d * pmax(session - psi, 0); slope after = b1 + d",
    segmented_call = "segmented(lm(score ~ session), seg.Z = ~ session, npsi = 1) and psi = start for each extra start; the fit with the smallest RSS is kept",
    extra_start_fractions = START_FRACTIONS,
    seg_control = seg.control()[c("toll", "it.max", "n.boot", "seed", "h", "quant", "fix.npsi", "min.step", "fc")],
    confint_default_method = "delta (confint.segmented: estimate -/+ qt(0.975, df.residual) * SE)",
    davies_defaults = list(k = eval(formals(davies.test)$k), alternative = "two.sided", type = "lrt",
                           points = "k equally spaced values from the 2nd to the 2nd-last sorted session"),
    optimum = "RSS over psi = x_2 + 0.001 * i up to x_(n-1) (x = sorted observed sessions), via lm.fit on (1, session, pmax(session - psi, 0)); then refined",
    comparison = "same_optimum: |psi_segmented - psi_optimum| < 1e-3; rss_equal_1e_8: RSS_segmented - RSS_optimum < 1e-8; default_start_reaches_optimum: the npsi = 1 start alone lands within 1e-3 of the optimum"
  ),
  series = res
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", null = "null"),
           file.path(here, "changepoint_segmented.json"))
