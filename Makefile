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

.PHONY: install demo test lint typecheck unit notebooks-test lab notebooks benchmarks datasets clean

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

## Lint, type check, the whole suite (unit tests and the docstring examples), then every
## notebook executed top to bottom.
test: lint typecheck $(STAMP)
	$(HEADLESS) $(BIN)/python -m pytest tests --doctest-modules toolkit
	$(HEADLESS) $(BIN)/python -m pytest --nbmake --nbmake-timeout=300 notebooks

lint: $(STAMP)
	$(BIN)/ruff check toolkit tests benchmarks datasets/make_simulated.py
	$(BIN)/ruff format --check toolkit tests benchmarks datasets/make_simulated.py

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(HEADLESS) $(BIN)/python -m pytest tests

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

## Render the notebooks with their outputs and figures, as HTML, into build/notebooks/.
notebooks: $(STAMP)
	mkdir -p build/notebooks
	$(BIN)/jupyter nbconvert --to html --execute --output-dir build/notebooks notebooks/*.ipynb

## Speed and memory figures, then accuracy and calibration studies (minutes; not tests).
benchmarks: $(STAMP)
	cd benchmarks && for f in bench_*.py accuracy_*.py calibration_*.py; do \
		$(HEADLESS) ../$(BIN)/python $$f || exit 1; done

## Regenerate the simulated benchmark datasets (small ones are committed).
datasets: $(STAMP)
	$(BIN)/python datasets/make_simulated.py

clean:
	rm -rf $(VENV) build report .pytest_cache .mypy_cache .ruff_cache
