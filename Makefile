# mvstylizer: `make demo` stylizes real footage; `make test` runs the suite.
# Both create .venv first when needed (torch pinned to the CPU build; see requirements.txt).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: setup demo test lint proto bench clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m client demo --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

proto: $(STAMP)
	$(PY) -m protos.generate

bench: $(STAMP)
	$(PY) -m benchmarks.speed --out $(OUT)/bench
	$(PY) -m benchmarks.quality --out $(OUT)/bench

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache
