# Reference values for latent class growth analysis (LCGA) from R flexmix, for the toolkit's
# Python tests (BSD-3-Clause, like the toolkit). Written by hand; run from the repository root:
#
#     Rscript tests/reference/classes_flexmix.R
#
# (paths are relative to this script's folder). Reads datasets/sgdata.csv and
# tests/reference/data/classes_four_classes.csv.gz (made by classes_make_data.py) and writes
#
#     tests/reference/classes_flexmix.json
#     tests/reference/classes_sgdata_k2_linear_posterior.csv
#     tests/reference/classes_four_classes_k4_piecewise5_posterior.csv
#
# Model: flexmix(score ~ <time terms> | client, k = K, model = FLXMRglm(family = "gaussian")),
# i.e. every row of a client belongs to one class, class-specific coefficients and class-specific
# residual SD (LCGA), fitted with stepFlexmix(nrep = 20) after set.seed(); the best start by
# log-likelihood is kept. See tests/reference/README.md for what the JSON holds.

suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
  library(parallel)
})
have_mclust <- requireNamespace("mclust", quietly = TRUE)

args_all <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args_all[grep("^--file=", args_all)])
here <- if (length(script)) dirname(normalizePath(script)) else getwd()
repo <- normalizePath(file.path(here, "..", ".."))

NREP <- 20L
# Tight tolerance: flexmix's residual SD is not the ML one (see ml_refine), so its iterations are not
# an exact EM and the log-likelihood is not monotone; with the default-ish 1e-13 a start could stop on
# a transient value up to ~1e-6 ABOVE the fixed point and be picked as "best". 1e-15 removes that.
CONTROL <- list(minprior = 0, iter.max = 10000L, tolerance = 1e-15)    # main fits
CONTROL_DEFAULT_MINPRIOR <- list(minprior = 0.05, iter.max = 10000L, tolerance = 1e-15)
BEST_TOL <- 1e-6        # a start "reached the best" if its logLik is within this of the best
CORES <- 2L             # fits are seeded individually, so results do not depend on this

# ---------------------------------------------------------------- data
sg_wide <- read.csv(file.path(repo, "datasets", "sgdata.csv"))
sg <- do.call(rbind, lapply(0:12, function(s) {
  data.frame(client = sg_wide$id, session = s, score = sg_wide[[paste0("bdi_s", s)]])
}))
sg <- sg[!is.na(sg$score), ]
sg <- sg[order(sg$client, sg$session), ]
rownames(sg) <- NULL

fc <- read.csv(file.path(here, "data", "classes_four_classes.csv.gz"), comment.char = "#")
fc <- fc[order(fc$client, fc$session), ]
rownames(fc) <- NULL

DATA <- list(sgdata = sg, four_classes = fc)
GRID <- list(sgdata = 0:12, four_classes = 0:11)     # session grid for fitted means / ordering

CODINGS <- list(
  linear     = list(rhs = "session",
                    names = c("intercept", "session")),
  quadratic  = list(rhs = "session + I(session^2)",
                    names = c("intercept", "session", "session_sq")),
  piecewise5 = list(rhs = "session + pmax(session - 5, 0)",
                    names = c("intercept", "session", "hinge5"))
)

SPECS <- c(
  lapply(c("linear", "quadratic"), function(cd) lapply(1:3, function(k) list(data = "sgdata", coding = cd, K = k))),
  lapply(names(CODINGS), function(cd) lapply(1:5, function(k) list(data = "four_classes", coding = cd, K = k)))
)
SPECS <- unlist(SPECS, recursive = FALSE)
for (i in seq_along(SPECS)) {
  # seed rule: 1000 * (1 for sgdata, 2 for four_classes) + 10 * (coding number) + K
  s <- SPECS[[i]]
  SPECS[[i]]$seed <- 1000L * match(s$data, names(DATA)) + 10L * match(s$coding, names(CODINGS)) + s$K
}

# ---------------------------------------------------------------- helpers
design <- function(coding, session) {
  model.matrix(as.formula(paste("~", CODINGS[[coding]]$rhs)), data.frame(session = session))
}

# per-client x per-class log-likelihood sum_t log dnorm(y | x b_k, sigma_k)
client_loglik <- function(X, y, g, coef, sigma) {
  K <- ncol(coef)
  L <- sapply(seq_len(K), function(k) dnorm(y, drop(X %*% coef[, k]), sigma[k], log = TRUE))
  rowsum(matrix(L, ncol = K), g, reorder = TRUE)
}
logsumexp_rows <- function(A) { m <- apply(A, 1, max); m + log(rowSums(exp(A - m))) }
mixture_loglik <- function(X, y, g, prior, coef, sigma) {
  A <- sweep(client_loglik(X, y, g, coef, sigma), 2, log(prior), "+")
  list(ll = sum(logsumexp_rows(A)), post = exp(A - logsumexp_rows(A)))
}

# EM with the exact ML residual SD (sigma_k^2 = sum w r^2 / sum w), started from posterior `tau`
# (clients x K). flexmix's M-step instead uses sigma_k^2 = sum(w r^2) / mean(w) / (n_rows - p), a
# degrees-of-freedom correction over all rows, so its fixed point is close to, but not exactly, the ML
# estimate; this refinement gives the exact ML optimum next to flexmix's own values.
ml_refine <- function(X, y, g, tau, max_iter = 100000L, tol = 1e-12) {
  K <- ncol(tau); ll_old <- -Inf; it <- 0L; converged <- FALSE
  repeat {
    it <- it + 1L
    W <- tau[g, , drop = FALSE]
    coef <- matrix(NA_real_, ncol(X), K); sigma <- numeric(K)
    for (k in seq_len(K)) {
      f <- lm.wfit(X, y, W[, k])
      coef[, k] <- f$coefficients
      sigma[k] <- sqrt(sum(W[, k] * f$residuals^2) / sum(W[, k]))
    }
    prior <- colMeans(tau)
    m <- mixture_loglik(X, y, g, prior, coef, sigma)
    tau <- m$post
    if (abs(m$ll - ll_old) < tol * abs(m$ll)) { converged <- TRUE; break }
    if (it >= max_iter) break
    ll_old <- m$ll
  }
  list(ll = m$ll, prior = prior, coef = coef, sigma = sigma, post = tau, iter = it, converged = converged)
}

ari_by_hand <- function(a, b) {
  tab <- table(a, b); n <- sum(tab)
  sc <- sum(choose(tab, 2)); sa <- sum(choose(rowSums(tab), 2)); sb <- sum(choose(colSums(tab), 2))
  e <- sa * sb / choose(n, 2)
  (sc - e) / ((sa + sb) / 2 - e)
}

# ---------------------------------------------------------------- one fit
run_fit <- function(spec) {
  d <- DATA[[spec$data]]; cd <- CODINGS[[spec$coding]]; K <- spec$K
  fml <- as.formula(paste("score ~", cd$rhs, "| client"))
  clients <- sort(unique(d$client))
  g <- match(d$client, clients)
  X <- design(spec$coding, d$session); y <- d$score
  Xgrid <- design(spec$coding, GRID[[spec$data]])
  t0 <- proc.time()[["elapsed"]]

  set.seed(spec$seed)
  st <- stepFlexmix(fml, data = d, k = K, nrep = NREP, model = FLXMRglm(family = "gaussian"),
                    control = CONTROL, verbose = FALSE, drop = FALSE)
  fit <- st@models[[1]]
  start_ll <- as.numeric(st@logLiks[1, ])
  best <- as.numeric(logLik(fit))

  # parameters as flexmix reports them, components in flexmix's order
  par <- parameters(fit)
  if (is.null(dim(par))) par <- matrix(par, ncol = 1, dimnames = list(names(par), "Comp.1"))
  coef <- par[grep("^coef\\.", rownames(par)), , drop = FALSE]
  stopifnot(identical(sub("^coef\\.", "", rownames(coef)), colnames(X)))
  sigma <- par["sigma", ]
  prior <- prior(fit)
  first <- !duplicated(d$client)              # d is sorted by client, so rows match `clients`
  post <- fit@posterior$scaled[first, , drop = FALSE]
  hard <- fit@cluster[first]
  Kfit <- fit@k

  # class order: ascending mean fitted score over the session grid, ties by intercept
  fitted_grid <- Xgrid %*% coef
  ord <- order(colMeans(fitted_grid), coef[1, ])
  relabel <- match(seq_len(Kfit), ord)         # flexmix component -> ordered class number

  # check our likelihood code reproduces flexmix's logLik at flexmix's parameters
  chk <- mixture_loglik(X, y, g, prior, coef, sigma)$ll

  out <- list(
    data = spec$data, coding = spec$coding, K = K, K_fitted = Kfit,
    formula = paste("score ~", cd$rhs, "| client"),
    seed = spec$seed, n_rows = nrow(d), n_clients = length(clients),
    logLik = best,
    df = attr(logLik(fit), "df"),
    AIC = AIC(fit),
    BIC = BIC(fit),
    BIC_n_clients = -2 * best + attr(logLik(fit), "df") * log(length(clients)),
    ICL = ICL(fit),
    converged = fit@converged, iter = fit@iter,
    start_logLiks = I(start_ll),
    n_starts_failed = sum(!is.finite(start_ll)),
    n_starts_at_best = sum(abs(start_ll - best) <= BEST_TOL, na.rm = TRUE),
    n_starts_within_0.001 = sum(abs(start_ll - best) <= 1e-3, na.rm = TRUE),
    loglik_recomputed = chk,
    classes = list(
      flexmix_component = I(ord),
      prior = I(unname(prior[ord])),
      coefficients = setNames(lapply(seq_len(nrow(coef)), function(j) I(unname(coef[j, ord]))), cd$names),
      coefficient_terms_R = colnames(X),
      sigma = I(unname(sigma[ord])),
      fitted_mean = lapply(ord, function(k) unname(fitted_grid[, k])),
      size_clients = I(as.integer(tabulate(relabel[hard], nbins = Kfit))),
      size_rows = I(as.integer(tabulate(relabel[fit@cluster], nbins = Kfit))),
      min_prior = min(prior)
    )
  )

  # the same 20 starts (same seed) with flexmix's default minprior = 0.05
  set.seed(spec$seed)
  mp_ll <- rep(NA_real_, NREP); mp_k <- rep(NA_integer_, NREP); mp_best <- NULL
  for (r in seq_len(NREP)) {
    x <- try(flexmix(fml, data = d, k = K, model = FLXMRglm(family = "gaussian"),
                     control = CONTROL_DEFAULT_MINPRIOR), silent = TRUE)
    if (!inherits(x, "try-error")) {
      mp_ll[r] <- as.numeric(logLik(x)); mp_k[r] <- x@k
      if (is.null(mp_best) || mp_ll[r] > as.numeric(logLik(mp_best))) mp_best <- x
    }
  }
  out$minprior_default <- list(
    minprior = 0.05,
    start_logLiks = I(mp_ll), start_K = I(mp_k),
    n_starts_dropping_classes = sum(mp_k < K, na.rm = TRUE),
    best_logLik = as.numeric(logLik(mp_best)), best_K = mp_best@k,
    best_prior = I(sort(unname(prior(mp_best)))),
    same_best_as_minprior0 = abs(as.numeric(logLik(mp_best)) - best) <= BEST_TOL && mp_best@k == Kfit
  )

  # exact ML refinement (see ml_refine) from the best flexmix posterior
  ml <- ml_refine(X, y, g, post)
  ml_grid <- Xgrid %*% ml$coef
  ml_ord <- order(colMeans(ml_grid), ml$coef[1, ])
  out$ml <- list(
    note = "EM continued from the best flexmix fit with sigma_k^2 = sum(w r^2)/sum(w) (exact ML); classes in the same order rule",
    logLik = ml$ll,
    logLik_minus_flexmix = ml$ll - best,
    df = attr(logLik(fit), "df"),
    AIC = -2 * ml$ll + 2 * attr(logLik(fit), "df"),
    BIC = -2 * ml$ll + attr(logLik(fit), "df") * log(nrow(d)),
    BIC_n_clients = -2 * ml$ll + attr(logLik(fit), "df") * log(length(clients)),
    iter = ml$iter, converged = ml$converged,
    prior = I(ml$prior[ml_ord]),
    coefficients = setNames(lapply(seq_len(nrow(ml$coef)), function(j) I(ml$coef[j, ml_ord])), cd$names),
    sigma = I(ml$sigma[ml_ord]),
    fitted_mean = lapply(ml_ord, function(k) unname(ml_grid[, k])),
    size_clients = I(as.integer(tabulate(match(max.col(ml$post, ties.method = "first"), ml_ord), nbins = Kfit))),
    same_hard_assignment_as_flexmix = all(match(max.col(ml$post, ties.method = "first"), ml_ord) == relabel[hard])
  )

  if (spec$data == "four_classes") {
    truth <- d$true_class[first]
    est <- relabel[hard]
    lev <- sort(unique(truth))
    tab <- table(factor(est, levels = seq_len(Kfit)), factor(truth, levels = lev))
    out$crosstab <- list(rows = "estimated class (ordered)", columns = lev,
                         counts = lapply(seq_len(nrow(tab)), function(i) I(as.integer(tab[i,]))))
    out$ARI <- if (have_mclust) mclust::adjustedRandIndex(est, truth) else NA
    out$ARI_by_hand <- ari_by_hand(est, truth)
  }
  out$seconds <- round(proc.time()[["elapsed"]] - t0, 1)
  posterior_table <- data.frame(client = clients, post[, ord, drop = FALSE], class = relabel[hard],
                                ml$post[, ml_ord, drop = FALSE],
                                ml_class = match(max.col(ml$post, ties.method = "first"), ml_ord))
  names(posterior_table) <- c("client", paste0("post_class", seq_len(Kfit)), "class",
                              paste0("ml_post_class", seq_len(Kfit)), "ml_class")
  list(json = out, posterior = posterior_table)
}

# ---------------------------------------------------------------- run
# (per-class and per-start vectors are wrapped in I() so that K = 1 still gives JSON arrays)
t_all <- proc.time()[["elapsed"]]
cost <- sapply(SPECS, function(s) nrow(DATA[[s$data]]) * s$K)
res <- mclapply(SPECS[order(-cost)], run_fit, mc.cores = CORES, mc.preschedule = FALSE)
res <- res[order(order(-cost))]
errs <- sapply(res, inherits, "try-error")
if (any(errs)) stop("fits failed: ", paste(sapply(res[errs], as.character), collapse = "\n"))
for (r in res) {
  j <- r$json
  cat(sprintf("%-12s %-10s K=%d  logLik=%.6f  df=%d  BIC=%.3f  at_best=%2d/20  dropped(minprior .05)=%d  ML-flexmix=%.2e  %.0fs\n",
              j$data, j$coding, j$K, j$logLik, j$df, j$BIC, j$n_starts_at_best,
              j$minprior_default$n_starts_dropping_classes, j$ml$logLik_minus_flexmix, j$seconds))
}

pick <- function(data, coding, K) {
  for (r in res) if (r$json$data == data && r$json$coding == coding && r$json$K == K) return(r)
}
write_posterior <- function(r, file, what) {
  con <- file(file.path(here, file), "w")
  writeLines(paste0("# ", what, " from tests/reference/classes_flexmix.R (flexmix ",
                    packageVersion("flexmix"), "); post_/class: flexmix fit, ml_post_/ml_class: the exact-ML refinement (`ml` block); classes ordered as in classes_flexmix.json; BSD-3-Clause"), con)
  p <- r$posterior
  for (nm in grep("post_", names(p))) p[[nm]] <- sprintf("%.17g", p[[nm]])
  write.csv(p, con, row.names = FALSE, quote = FALSE)
  close(con)
}
write_posterior(pick("sgdata", "linear", 2), "classes_sgdata_k2_linear_posterior.csv",
                "Posterior class probabilities per client, sgdata BDI sessions 0-12, LCGA linear K = 2,")
write_posterior(pick("four_classes", "piecewise5", 4), "classes_four_classes_k4_piecewise5_posterior.csv",
                "Posterior class probabilities per client, simulated four-class cohort, LCGA piecewise (knot 5) K = 4,")

out <- list(
  `_comment` = paste("LCGA reference values from R flexmix for the toolkit's tests; produced by",
                     "`Rscript tests/reference/classes_flexmix.R` (BSD-3-Clause). See tests/reference/README.md."),
  versions = list(R = R.version.string, flexmix = as.character(packageVersion("flexmix")),
                  mclust = if (have_mclust) as.character(packageVersion("mclust")) else NA,
                  jsonlite = as.character(packageVersion("jsonlite"))),
  settings = list(
    call = "stepFlexmix(score ~ <terms> | client, data, k = K, nrep = 20, model = FLXMRglm(family = 'gaussian'), control = control, drop = FALSE)",
    nrep = NREP, control = CONTROL, control_minprior_check = CONTROL_DEFAULT_MINPRIOR,
    seed_rule = "set.seed(1000 * data_number + 10 * coding_number + K) before the 20 starts; data_number sgdata = 1, four_classes = 2; coding_number linear = 1, quadratic = 2, piecewise5 = 3",
    best_tolerance = BEST_TOL,
    codings = lapply(CODINGS, function(c) list(terms = c$rhs, names = c$names)),
    session_grid = GRID,
    class_order = "classes sorted by the mean of the class's fitted trajectory over session_grid (ascending, i.e. lowest average score first), ties by intercept; flexmix_component gives flexmix's own component number",
    df = "flexmix: K * (number of coefficients + 1 residual SD) + (K - 1) priors",
    BIC = "BIC is stats::BIC(fit): flexmix's nobs is the number of ROWS (scores), not clients; BIC_n_clients uses log(number of clients)",
    sigma = "flexmix's residual SD is sqrt(sum(w r^2) / mean(w) / (n_rows - p)) (p = coefficients), not the ML value sqrt(sum(w r^2) / sum(w)); the `ml` block gives the exact ML optimum",
    prior = "flexmix's prior(fit) = mean over clients of the posterior from the last E-step",
    convergence = "flexmix stops when |dlogLik| / (|logLik| + 0.1) < tolerance; because its sigma update is not the ML one the logLik is not monotone, hence the tight tolerance 1e-15 (with 1e-13 two fits picked a start stopped ~1e-6 above the fixed point)",
    sizes = "size_clients / size_rows: hard assignment (max posterior) counted in clients / in rows (flexmix's fit@size counts rows)"
  ),
  data = list(
    sgdata = list(source = "datasets/sgdata.csv, bdi_s0..bdi_s12 to long, missing scores dropped",
                  n_clients = length(unique(sg$client)), n_rows = nrow(sg)),
    four_classes = list(source = "tests/reference/data/classes_four_classes.csv.gz (classes_make_data.py)",
                        n_clients = length(unique(fc$client)), n_rows = nrow(fc),
                        true_class_counts = as.list(table(fc$true_class[!duplicated(fc$client)])))
  ),
  fits = lapply(res, function(r) { j <- r$json; j$seconds <- NULL; j })   # no timings: byte-reproducible
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
           file.path(here, "classes_flexmix.json"))
cat(sprintf("done in %.0f s\n", proc.time()[["elapsed"]] - t_all))
