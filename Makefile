# mvstylizer: `make demo` stylizes real footage; `make test` runs the suite.
# Both create .venv first when needed (torch pinned to the CPU build; see requirements.txt).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: setup browser demo test lint proto web bench clean

setup: $(STAMP)

# The project itself goes in editable: .venv/bin/mvstylizer then runs this checkout's code from any folder.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory browser
	touch $(STAMP)

# Debian's Chromium drives the live preview page's browser test (Playwright launches it; no
# browser is downloaded). Without apt as root it is left out: off CI that test is then skipped.
browser:
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
	  || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
	  || echo "warning: could not install chromium; the preview page's browser test needs it"; \
	else echo "note: chromium not installed (needs apt-get as root); the preview browser test will be skipped off CI"; fi

demo: $(STAMP)
	$(PY) -m client demo --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

proto: $(STAMP)
	$(PY) -m protos.generate

# The device page's generated protobuf code (client/browser/gen/) and its bundles (client/browser/dist/:
# messages.js, the messages with their runtime; webm.js, the WebM muxer a picked video's output is
# written with), all committed: only this target needs node and npm (the pinned packages of
# package-lock.json); the page itself does not.
WEB_GEN := client/browser/gen
web: $(STAMP)
	npm ci --no-audit --no-fund
	rm -rf $(WEB_GEN)/protos
	$(PY) -m grpc_tools.protoc -I. --plugin=protoc-gen-es=node_modules/.bin/protoc-gen-es \
	  --es_out=$(WEB_GEN) --es_opt=target=js,import_extension=js \
	  protos/mvstylizer/v1/media.proto protos/mvstylizer/v1/stylizer.proto
	node_modules/.bin/esbuild $(WEB_GEN)/messages.js --bundle --format=esm --minify --legal-comments=eof \
	  --outfile=client/browser/dist/messages.js
	node_modules/.bin/esbuild $(WEB_GEN)/webm.js --bundle --format=esm --minify --legal-comments=eof \
	  --outfile=client/browser/dist/webm.js

bench: $(STAMP)
	$(PY) -m benchmarks.speed --out $(OUT)/bench
	$(PY) -m benchmarks.quality --out $(OUT)/bench
	$(PY) -m benchmarks.profile --out $(OUT)/bench

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache
