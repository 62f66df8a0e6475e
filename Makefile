# Two commands do all set-up: `make demo` and `make test` (see README.md).
# The virtual environment is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Threads per BLAS call: the machines here have 2 cores; keep runs reproducible and polite.
export OMP_NUM_THREADS ?= 2
# Figures are drawn off screen when there is no display; notebooks rendered for reading keep
# their inline figures (Jupyter's own backend), so only the test and report targets set Agg.
HEADLESS := MPLBACKEND=Agg

NOTEBOOKS := $(wildcard notebooks/*.ipynb)
EXECUTED  := $(patsubst notebooks/%,build/executed/%,$(NOTEBOOKS))
# Wall-clock limit for one notebook, top to bottom (and for any one cell).
NOTEBOOK_TIMEOUT ?= 300
DOCS_SRC  := build/docs-src

.PHONY: install demo test lint typecheck unit notebooks-test executed docs lab notebooks benchmarks datasets clean
# A notebook that fails or times out leaves no executed copy behind.
.DELETE_ON_ERROR:

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

## Run the main analysis on the embedded default dataset; the report lands in report/.
demo: $(STAMP)
	$(HEADLESS) $(BIN)/python -m toolkit --out report
	@echo "Open report/index.html"

## Lint, type check, the whole suite (unit tests and the docstring examples), every notebook
## executed top to bottom (once), then the documentation site built from those executed copies.
test: lint typecheck $(STAMP)
	$(HEADLESS) $(BIN)/python -m pytest tests --doctest-modules toolkit
	@$(MAKE) --no-print-directory notebooks-test
	@$(MAKE) --no-print-directory docs

## Execute every notebook afresh into build/executed/ (fails on any cell error or timeout).
notebooks-test: $(STAMP)
	rm -rf build/executed
	@$(MAKE) --no-print-directory executed

executed: $(EXECUTED)

# Figures stay inline (Jupyter's own backend), so the site shows them.
build/executed/%.ipynb: notebooks/%.ipynb $(STAMP)
	@mkdir -p build/executed
	env -u MPLBACKEND timeout $(NOTEBOOK_TIMEOUT) $(BIN)/jupyter nbconvert --to notebook \
		--execute --ExecutePreprocessor.timeout=$(NOTEBOOK_TIMEOUT) --output-dir build/executed $<

## The documentation site, offline, warnings as errors, into build/docs/html/. It renders the
## notebooks executed by `make test` (executing only those missing) and draws the plot gallery.
docs: $(STAMP) $(EXECUTED)
	rm -rf $(DOCS_SRC) build/docs
	mkdir -p $(DOCS_SRC)/notebooks
	cp -R docs/. $(DOCS_SRC)/
	cp $(EXECUTED) $(DOCS_SRC)/notebooks/
	$(HEADLESS) $(BIN)/python -m sphinx -b html -W --keep-going -q -d build/docs/doctrees \
		$(DOCS_SRC) build/docs/html
	@echo "Open build/docs/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check toolkit tests benchmarks datasets/scripts/make_simulated.py docs/conf.py docs/_ext
	$(BIN)/ruff format --check toolkit tests benchmarks datasets/scripts/make_simulated.py docs/conf.py docs/_ext

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(HEADLESS) $(BIN)/python -m pytest tests

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

## Render the notebooks with their outputs and figures, as HTML, into build/notebooks/.
notebooks: $(STAMP)
	mkdir -p build/notebooks
	env -u MPLBACKEND $(BIN)/jupyter nbconvert --to html --execute --output-dir build/notebooks \
		notebooks/*.ipynb

## Speed and memory figures, then accuracy and calibration studies (minutes; not tests).
benchmarks: $(STAMP)
	cd benchmarks && for f in bench_*.py accuracy_*.py calibration_*.py; do \
		$(HEADLESS) ../$(BIN)/python $$f || exit 1; done

## Regenerate the simulated benchmark datasets (small ones are committed).
datasets: $(STAMP)
	$(BIN)/python datasets/scripts/make_simulated.py

clean:
	rm -rf $(VENV) build report .pytest_cache .mypy_cache .ruff_cache
