# The two commands a newcomer needs:  make serve   and   make test
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: serve test install

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

## Install, then serve with the embedded defaults (SQLite file ./hubbub.db, in-process fan-out).
serve: $(STAMP)
	$(VENV)/bin/hubbub serve

## Install (Python, the JS SDK and Debian's Chromium used by the tests, the benchmark's
## Socket.IO server), then run every test.
test: $(STAMP)
	command -v chromium >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
	cd tests/sdk/js && npm ci --no-audit --no-fund --loglevel=error
	cd bench/socketio && npm ci --no-audit --no-fund --loglevel=error
	$(PY) -m pytest $(PYTEST_ARGS)
