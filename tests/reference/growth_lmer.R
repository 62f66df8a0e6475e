# Reference values from lme4 / lmerTest / pbkrtest for the toolkit's growth-model tests.
#
# Produced by running, from the repository root (R 4.2.2, lme4 1.1-31, lmerTest 3.1-3,
# pbkrtest 0.5.2, jsonlite; Debian r-cran-* packages):
#
#     Rscript tests/reference/growth_lmer.R
#
# Reads datasets/sleepstudy.csv, datasets/BtheB_long.csv and the simulated three-level files
# tests/reference/data/growth_three_level_{balanced,unbalanced}.csv.gz (written by
# tests/reference/make_growth_data.py) and writes tests/reference/growth_lmer.json: for each
# model its formula, REML flag, log-likelihood, deviance, fixed effects with Satterthwaite and
# Kenward-Roger tests, vcov, variance components, warnings and, for the three-level models,
# therapist conditional modes, the therapist ICC, a profile interval and fitting times.
# Part of the toolkit (BSD-3-Clause); the sleepstudy (lme4) and BtheB (HSAUR3) data keep
# their own licences, see datasets/*.md. Takes about 10 minutes on 2 cores.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest, exclude = "lmer")  # lme4::lmer fits; lmerTest only converts and tests
  library(pbkrtest)
  library(jsonlite)
})

# --------------------------------------------------------------------------------------------
# Paths (relative to this script's folder) and settings
# --------------------------------------------------------------------------------------------
script_dir <- local({
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  if (length(file_arg)) dirname(normalizePath(sub("^--file=", "", file_arg[1])))
  else normalizePath("tests/reference")
})
repo_dir <- normalizePath(file.path(script_dir, "..", ".."))
out_path <- file.path(script_dir, "growth_lmer.json")

OPTIMIZER <- "bobyqa"
CONTROL <- lmerControl(optimizer = OPTIMIZER)
N_TIMING <- 3L                 # fits timed per three-level model (median reported)
PROFILE_LIMIT <- 300           # seconds allowed for one profile confidence interval
KR_MAX_NOBS <- 5000L           # Kenward-Roger (pbkrtest, dense n x n matrices) only below this

# --------------------------------------------------------------------------------------------
# JSON helpers: numbers written with the shortest of %.15g/%.16g/%.17g that reads back to the
# same double (so the JSON keeps full precision); NA/NaN/Inf become null.
# --------------------------------------------------------------------------------------------
num1 <- function(v) {
  if (!is.finite(v)) return("null")
  if (is.integer(v)) return(as.character(v))
  for (p in 15:17) {
    s <- sprintf(paste0("%.", p, "g"), v)
    if (as.numeric(s) == v) break
  }
  s
}
jnum <- function(x, array = FALSE) {
  x <- unname(x)
  s <- vapply(seq_along(x), function(i) num1(x[i]), "")
  txt <- if (length(x) == 1L && !array) s else paste0("[", paste(s, collapse = ", "), "]")
  structure(txt, class = "json")
}
# Recursively mark numbers for verbatim output; numeric vectors of length > 1 (or AsIs) stay
# arrays, named numeric vectors become objects.
prep <- function(x) {
  if (is.null(x)) return(NULL)
  if (inherits(x, "json")) return(x)
  if (is.list(x)) {
    out <- lapply(x, prep)
    names(out) <- names(x)
    return(out)
  }
  if (is.numeric(x) && !is.factor(x)) {
    if (!is.null(names(x))) return(prep(as.list(x)))
    return(jnum(x, array = inherits(x, "AsIs") || length(x) != 1L))
  }
  if (is.factor(x)) x <- as.character(x)
  if ((is.character(x) || is.logical(x)) && !is.null(names(x))) return(as.list(x))
  x
}
mat_list <- function(m) {
  m <- as.matrix(m)
  setNames(lapply(rownames(m), function(r) setNames(as.list(m[r, ]), colnames(m))),
           rownames(m))
}
arr <- function(x) I(x)
since <- function(t0) round(proc.time()[["elapsed"]] - t0, 3)   # seconds elapsed, 3 decimals

# --------------------------------------------------------------------------------------------
# Fitting helpers
# --------------------------------------------------------------------------------------------
# Evaluate expr, collecting warnings and messages (also echoed to stderr).
capture <- function(expr) {
  notes <- character(0)
  value <- withCallingHandlers(expr,
    warning = function(w) {
      notes <<- c(notes, paste("warning:", conditionMessage(w)))
      message("  [warning] ", conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      txt <- sub("\n$", "", conditionMessage(m))
      if (!startsWith(txt, "  [")) {
        notes <<- c(notes, paste("message:", txt))
        message("  [message] ", txt)
        invokeRestart("muffleMessage")
      }
    })
  list(value = value, notes = notes)
}

fit_lmer <- function(formula, data, REML) {
  lme4::lmer(formula, data = data, REML = REML, control = CONTROL)
}

coef_table <- function(ct) {
  ct <- as.matrix(ct)
  setNames(lapply(rownames(ct), function(r) list(
    estimate = ct[r, "Estimate"], std_error = ct[r, "Std. Error"], df = ct[r, "df"],
    t_value = ct[r, "t value"], p_value = ct[r, "Pr(>|t|)"])), rownames(ct))
}

varcorr_list <- function(m) {
  vc <- VarCorr(m)
  groups <- lapply(names(vc), function(g) {
    v <- vc[[g]]
    terms <- colnames(v)
    sds <- attr(v, "stddev")
    out <- list(terms = arr(terms), variance = setNames(as.list(diag(as.matrix(v))), terms),
                sd = setNames(as.list(unname(sds)), terms),
                covariance = mat_list(v))
    corr <- attr(v, "correlation")
    out$correlation <- if (length(terms) > 1L) mat_list(corr) else NULL
    out
  })
  names(groups) <- names(vc)
  df <- as.data.frame(vc, order = "lower.tri")
  table <- lapply(seq_len(nrow(df)), function(i) list(
    grp = df$grp[i], var1 = if (is.na(df$var1[i])) NULL else df$var1[i],
    var2 = if (is.na(df$var2[i])) NULL else df$var2[i], vcov = df$vcov[i], sdcor = df$sdcor[i]))
  list(groups = groups,
       residual = list(variance = sigma(m)^2, sd = sigma(m)),
       table = table)
}

convergence <- function(m) {
  dd <- m@optinfo$derivs
  scaled <- tryCatch(max(abs(solve(dd$Hessian, dd$gradient))), error = function(e) NA_real_)
  list(optimizer = m@optinfo$optimizer, optimizer_code = m@optinfo$conv$opt,
       function_evaluations = m@optinfo$feval,
       lme4_messages = arr(as.character(unlist(m@optinfo$conv$lme4$messages))),
       max_abs_gradient = max(abs(dd$gradient)), max_abs_scaled_gradient = scaled,
       singular = isSingular(m))
}

therapist_ranef <- function(m) {
  re <- ranef(m, condVar = TRUE)$therapist
  pv <- attr(re, "postVar")
  terms <- colnames(re)
  k <- length(terms)
  out <- list(group = "therapist", levels = arr(rownames(re)), terms = arr(terms),
              mode = setNames(lapply(terms, function(t) arr(re[[t]])), terms),
              cond_sd = setNames(lapply(seq_len(k), function(i) arr(sqrt(pv[i, i, ]))), terms))
  if (k == 2L) out$cond_cov <- setNames(list(arr(pv[1, 2, ])), paste(terms, collapse = ","))
  out
}

profile_sd <- function(m, parm) {
  t0 <- proc.time()[["elapsed"]]
  setTimeLimit(elapsed = PROFILE_LIMIT, transient = TRUE)
  res <- tryCatch({
    ci <- suppressMessages(confint(m, parm = parm, method = "profile", level = 0.95,
                                   oldNames = FALSE))
    list(ok = TRUE, ci = ci)
  }, error = function(e) list(ok = FALSE, msg = conditionMessage(e)))
  setTimeLimit(elapsed = Inf)
  secs <- since(t0)
  if (res$ok) {
    list(parameter = parm, level = 0.95, lower = res$ci[parm, 1], upper = res$ci[parm, 2],
         method = "confint(m, parm, method = 'profile', oldNames = FALSE)", seconds = secs)
  } else {
    list(parameter = parm, note = paste0("omitted: profile did not finish within ",
                                         PROFILE_LIMIT, " s or failed (", res$msg, ")"),
         seconds = secs)
  }
}

# One model: fit, tests, components; extra pieces for the three-level models.
run_model <- function(key, dataset, formula, data, REML = TRUE, three_level = FALSE,
                      profile = FALSE) {
  message(sprintf("[%s] %s  %s", format(Sys.time(), "%H:%M:%S"), key, deparse1(formula)))
  t0 <- proc.time()[["elapsed"]]
  fit <- capture(fit_lmer(formula, data, REML))
  fit_secs <- since(t0)
  m <- fit$value

  t0 <- proc.time()[["elapsed"]]
  conv <- capture(lmerTest::as_lmerModLmerTest(m))
  mt <- conv$value
  sat <- capture(summary(mt, ddf = "Satterthwaite")$coefficients)
  sat_secs <- since(t0)

  res <- list(
    key = key, dataset = dataset, formula = deparse1(formula, width.cutoff = 500L),
    REML = REML, criterion = if (REML) "REML" else "ML",
    optimizer = OPTIMIZER, control = "lmerControl(optimizer = \"bobyqa\")",
    nobs = nobs(m), groups = as.list(ngrps(m)),
    logLik = as.numeric(logLik(m)), logLik_df = attr(logLik(m), "df"),
    REMLcrit = if (REML) REMLcrit(m) else NULL,
    deviance = if (REML) deviance(m, REML = FALSE) else deviance(m),
    deviance_note = if (REML) paste(
      "REML fit: deviance(m, REML = FALSE), the ML deviance evaluated at the REML estimates",
      "(plain deviance() is deprecated for REML fits; REMLcrit = -2 * logLik)")
      else "ML fit: deviance(m) = -2 * logLik",
    AIC = AIC(m), BIC = BIC(m),
    sigma = sigma(m), theta = as.list(getME(m, "theta")),
    fixef = as.list(fixef(m)),
    fixed_satterthwaite = coef_table(sat$value),
    vcov = mat_list(vcov(m)),
    varcorr = varcorr_list(m),
    convergence = convergence(m),
    warnings = arr(c(fit$notes, conv$notes, sat$notes)),
    seconds = list(fit = fit_secs, lmerTest_satterthwaite = sat_secs)
  )

  if (nobs(m) <= KR_MAX_NOBS) {
    t0 <- proc.time()[["elapsed"]]
    kr <- tryCatch(capture(summary(mt, ddf = "Kenward-Roger")$coefficients),
                   error = function(e) list(error = conditionMessage(e)))
    kv <- tryCatch(as.matrix(pbkrtest::vcovAdj(m)), error = function(e) NULL)
    res$seconds$kenward_roger <- since(t0)
    if (is.null(kr$error)) {
      res$fixed_kenward_roger <- coef_table(kr$value)
      if (length(kr$notes)) res$kenward_roger_warnings <- arr(kr$notes)
      if (!is.null(kv)) {
        dimnames(kv) <- dimnames(vcov(m))
        res$vcov_kenward_roger <- mat_list(kv)
      }
    } else {
      res$fixed_kenward_roger <- NULL
      res$kenward_roger_note <- paste("lmerTest/pbkrtest refused:", kr$error)
    }
  } else {
    res$kenward_roger_note <- sprintf(paste(
      "skipped: pbkrtest's Kenward-Roger needs dense nobs x nobs matrices (%d x %d here),",
      "infeasible in memory and time; only run for nobs <= %d"), nobs(m), nobs(m), KR_MAX_NOBS)
  }

  if (three_level) {
    res$ranef_therapist <- therapist_ranef(m)
    vc <- VarCorr(m)
    v_t <- vc$therapist["(Intercept)", "(Intercept)"]
    v_c <- vc[["therapist:client"]]["(Intercept)", "(Intercept)"]
    v_e <- sigma(m)^2
    res$icc_therapist <- list(
      value = v_t / (v_t + v_c + v_e),
      definition = paste(
        "var(therapist intercept) / (var(therapist intercept) + var(client intercept) +",
        "residual variance), from VarCorr(m): the share of score variance at session 0",
        "(where the slope variances do not contribute) that lies between therapists"),
      components = list(therapist_intercept = v_t, client_intercept = v_c, residual = v_e))
    if (isTRUE(profile)) {
      message("  profile confidence interval ...")
      res$profile_ci_sd_therapist_intercept <- profile_sd(m, "sd_(Intercept)|therapist")
    } else if (is.list(profile)) {
      res$profile_ci_sd_therapist_intercept <- profile
    }
    message("  timing ", N_TIMING, " fits ...")
    times <- vapply(seq_len(N_TIMING), function(i) {
      gc()
      system.time(suppressWarnings(suppressMessages(fit_lmer(formula, data, REML))))[["elapsed"]]
    }, 0)
    res$timing <- list(
      median_seconds = round(median(times), 3), seconds = arr(round(times, 3)),
      what = sprintf(paste("system.time(lme4::lmer(formula, data, REML = %s, control =",
                           "lmerControl(optimizer = \"bobyqa\")))['elapsed'], %d fits, median"),
                     REML, N_TIMING))
  }
  res
}

# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
sleep <- read.csv(file.path(repo_dir, "datasets", "sleepstudy.csv"), stringsAsFactors = TRUE)
sleep$Subject <- factor(sleep$Subject)

btheb_all <- read.csv(file.path(repo_dir, "datasets", "BtheB_long.csv"), stringsAsFactors = TRUE)
btheb_all$subject <- factor(btheb_all$subject)
btheb <- btheb_all[!is.na(btheb_all$bdi), ]

read3 <- function(name) {
  d <- read.csv(file.path(script_dir, "data", name))
  d$therapist <- factor(d$therapist)
  d$client <- factor(d$client)
  d
}
bal <- read3("growth_three_level_balanced.csv.gz")
unb <- read3("growth_three_level_unbalanced.csv.gz")

factor_info <- function(f) list(levels = arr(levels(f)), reference = levels(f)[1],
                                contrasts = "contr.treatment",
                                contrast_matrix = mat_list(contrasts(f)))

data_info <- list(
  sleepstudy = list(
    file = "datasets/sleepstudy.csv", rows = nrow(sleep), rows_used = nrow(sleep),
    grouping = "Subject converted to factor (levels in numeric order)"),
  btheb = list(
    file = "datasets/BtheB_long.csv", rows = nrow(btheb_all), rows_used = nrow(btheb),
    rows_dropped_missing_bdi = nrow(btheb_all) - nrow(btheb),
    read = "read.csv(stringsAsFactors = TRUE); subject converted to factor; rows with NA bdi dropped",
    locale_collate = Sys.getlocale("LC_COLLATE"),
    factors = list(drug = factor_info(btheb$drug), length = factor_info(btheb$length),
                   treatment = factor_info(btheb$treatment)),
    numeric_covariates = arr(c("bdi.pre", "time")),
    time_values = arr(sort(unique(btheb$time))),
    note = paste("Factor levels sorted as read.csv does (treatment reference 'BtheB', so the",
                 "coefficient is treatmentTAU = TAU - BtheB; HSAUR3's own factor has TAU first).",
                 "time is numeric months (2, 3, 5, 8), not centred.")),
  three_level_balanced = list(
    file = "tests/reference/data/growth_three_level_balanced.csv.gz", rows = nrow(bal),
    therapists = nlevels(bal$therapist), clients = nlevels(bal$client),
    generator = "tests/reference/make_growth_data.py (seed 20240601)"),
  three_level_unbalanced = list(
    file = "tests/reference/data/growth_three_level_unbalanced.csv.gz", rows = nrow(unb),
    therapists = nlevels(unb$therapist), clients = nlevels(unb$client),
    generator = "tests/reference/make_growth_data.py (seed 20240602)")
)

# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------
f3_ri <- score ~ session + (1 | therapist) + (1 + session | therapist:client)
f3_rs <- score ~ session + (1 + session | therapist) + (1 + session | therapist:client)
bt_ri <- bdi ~ bdi.pre + time + treatment + drug + length + (1 | subject)
bt_rs <- bdi ~ bdi.pre + time + treatment + drug + length + (time | subject)

# Profile intervals: run for the therapist-intercept models (1.5-2 minutes each). For the
# therapist-slope models a trial run of confint(m, parm = "sd_(Intercept)|therapist",
# method = "profile") on the balanced set took 360 s elapsed (342 s CPU, single-threaded), over
# the ~5 minute budget, so they are skipped with a note (pass profile = TRUE to run them).
SKIP_NOTE <- paste(
  "omitted: a trial profile of this parameter for this model on the balanced set took 360 s",
  "elapsed (342 s CPU), over the ~5 minute budget; set the profile argument to TRUE in",
  "growth_lmer.R to run it")
SKIP_BALANCED <- list(parameter = "sd_(Intercept)|therapist", note = SKIP_NOTE,
                      trial_run = list(lower = 1.38843586229, upper = 1.77818351685,
                                       seconds = 360.143, note = paste(
                                         "same data, model and optimizer; printed to 12",
                                         "significant digits; informative only")))
SKIP_UNBALANCED <- list(parameter = "sd_(Intercept)|therapist", note = paste0(SKIP_NOTE,
                        " (not tried on the unbalanced set)"))
models <- list()
load_start <- readLines("/proc/loadavg", warn = FALSE)
add <- function(res) models[[res$key]] <<- res

add(run_model("sleepstudy_intercept_reml", "sleepstudy", Reaction ~ Days + (1 | Subject), sleep))
add(run_model("sleepstudy_slope_reml", "sleepstudy", Reaction ~ Days + (Days | Subject), sleep))
add(run_model("sleepstudy_intercept_ml", "sleepstudy", Reaction ~ Days + (1 | Subject), sleep,
              REML = FALSE))
add(run_model("sleepstudy_slope_ml", "sleepstudy", Reaction ~ Days + (Days | Subject), sleep,
              REML = FALSE))
add(run_model("btheb_intercept_reml", "btheb", bt_ri, btheb))
add(run_model("btheb_slope_reml", "btheb", bt_rs, btheb))
add(run_model("three_level_balanced_therapist_intercept", "three_level_balanced", f3_ri, bal,
              three_level = TRUE, profile = TRUE))
add(run_model("three_level_balanced_therapist_slope", "three_level_balanced", f3_rs, bal,
              three_level = TRUE, profile = SKIP_BALANCED))
add(run_model("three_level_unbalanced_therapist_intercept", "three_level_unbalanced", f3_ri,
              unb, three_level = TRUE, profile = TRUE))
add(run_model("three_level_unbalanced_therapist_slope", "three_level_unbalanced", f3_rs, unb,
              three_level = TRUE, profile = SKIP_UNBALANCED))

# --------------------------------------------------------------------------------------------
# Metadata and output
# --------------------------------------------------------------------------------------------
pkgs <- c("lme4", "lmerTest", "pbkrtest", "nlme", "Matrix", "minqa", "nloptr", "numDeriv",
          "jsonlite")
si <- sessionInfo()
meta <- list(
  produced_by = "Rscript tests/reference/growth_lmer.R (from the repository root)",
  created = format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z"),
  R_version = R.version.string,
  packages = setNames(lapply(pkgs, function(p) utils::packageDescription(p)$Version), pkgs),
  platform = R.version$platform, running = si$running,
  BLAS = si$BLAS, LAPACK = si$LAPACK,
  cores_logical = parallel::detectCores(logical = TRUE),
  cores_physical = parallel::detectCores(logical = FALSE),
  loadavg_start = load_start, loadavg_end = readLines("/proc/loadavg", warn = FALSE),
  loadavg_note = paste("/proc/loadavg at the start and end of the run; other jobs on the",
                       "machine inflate the timings"),
  optimizer = paste("lmerControl(optimizer = \"bobyqa\") for every fit (minqa::bobyqa with",
                    "lme4's defaults rhobeg 2e-4, rhoend 2e-7); not the lme4 1.1-31 default",
                    "nloptwrap, which stops early on the balanced three-level data"),
  precision = paste(
    "Three-level models: refits with Nelder-Mead, bobyqa (rhoend 1e-10) and nloptwrap",
    "(xtol_rel 1e-12) agreed with these values on logLik to ~1e-13 relative, fixed effects",
    "~1e-7 relative, SDs ~2e-5 relative, correlations ~3e-5 absolute, therapist conditional",
    "modes ~4e-5 absolute (see tests/reference/README.md)"),
  fitting = paste("lme4::lmer fits; lmerTest::as_lmerModLmerTest(m) then",
                  "summary(., ddf = 'Satterthwaite') and summary(., ddf = 'Kenward-Roger')",
                  "(pbkrtest); vcov_kenward_roger = pbkrtest::vcovAdj(m)")
)
definitions <- list(
  logLik = "as.numeric(logLik(m)): the REML log-likelihood for REML fits, ML for ML fits",
  REMLcrit = "lme4::REMLcrit(m) = -2 * REML logLik (REML fits only)",
  theta = "getME(m, 'theta'): relative Cholesky factors, names as lme4 gives them",
  varcorr = paste("VarCorr(m): per grouping factor the variances, SDs, covariance and",
                  "correlation matrices; 'table' is as.data.frame(VarCorr(m), order = 'lower.tri')"),
  ranef_therapist = paste("ranef(m, condVar = TRUE)$therapist: conditional modes in level",
                          "order, conditional SDs = sqrt of the diagonal of attr(, 'postVar'),",
                          "cond_cov = its off-diagonal element"),
  icc_therapist = paste("var(therapist intercept) / (var(therapist intercept) + var(client",
                        "intercept) + residual variance), at session 0"),
  p_values = "two-sided, from the t distribution with the stated df",
  timing = "seconds elapsed; machine and BLAS in meta"
)
out <- list(
  description = paste(
    "Reference values from R (lme4/lmerTest/pbkrtest) for the toolkit's growth-model tests.",
    "Produced by tests/reference/growth_lmer.R; regenerate with",
    "'Rscript tests/reference/growth_lmer.R' from the repository root. Do not edit by hand."),
  meta = meta, definitions = definitions, data = data_info, models = models)

writeLines(toJSON(prep(out), auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE,
                  null = "null", na = "null"), out_path, useBytes = TRUE)
message("wrote ", out_path)
