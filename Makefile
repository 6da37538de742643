# fadump-emu: every target sets itself up; only python3 (3.11+) is needed to start.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out/basic-panic
SCENARIO ?= scenarios/basic-panic.toml
DEB_TOOLS := gdb-multiarch elfutils binutils

.PHONY: all setup run test tools ppc64el-tools ppc64el-tools-releases reference bench docs clean help

all: test

help:
	@echo "make run    set up .venv and run $(SCENARIO) into $(OUT)"
	@echo "make test   set up .venv (and the Debian vmcore readers when root) and run the tests"
	@echo "make tools  install readelf, eu-readelf, gdb-multiarch, the ppc64 cross compilers and chromium (Debian packages)"
	@echo "make ppc64el-tools  fetch Debian's ppc64el makedumpfile and crash (run under qemu) into .tools/ppc64el"
	@echo "make ppc64el-tools-releases  the same from trixie and sid (.tools/ppc64el-trixie, -sid)"
	@echo "make reference  build real 6.12 and 6.1 kernels, crash them under QEMU's pseries fadump, write tests/reference (not in CI; ~20 min)"
	@echo "make bench  measure throughput, scaling and speed; writes bench.json"
	@echo "make docs   regenerate docs/scenarios.md from the scenario format's key tables"
	@echo "make clean  remove .venv and out/"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/fadump-emu run $(SCENARIO) --out $(OUT) --force

# The real vmcore readers: installed when missing and we may (root with apt-get);
# otherwise the tests that need them say how to get them.
tools:
	@missing=""; \
	command -v readelf >/dev/null || missing="$$missing binutils"; \
	command -v eu-readelf >/dev/null || missing="$$missing elfutils"; \
	command -v gdb-multiarch >/dev/null || missing="$$missing gdb-multiarch"; \
	command -v powerpc64le-linux-gnu-gcc >/dev/null || missing="$$missing gcc-powerpc64le-linux-gnu"; \
	command -v powerpc64-linux-gnu-gcc >/dev/null || missing="$$missing gcc-powerpc64-linux-gnu"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "note: missing$$missing; run 'sudo apt-get install$$missing' to enable the real-tool tests"; \
	  fi; \
	fi

# Debian's own ppc64el makedumpfile and crash plus qemu-ppc64le-static, from Debian's archive with a private
# apt state (the system's apt is not touched; no root needed); does nothing when already there.
ppc64el-tools:
	$(PYTHON) -m emulator.host.ppc64el_tools --dest .tools/ppc64el

# The same tools of Debian trixie (makedumpfile 1.7.6) and sid (1.7.8), into .tools/ppc64el-trixie and -sid:
# tests/test_makedumpfile_verdicts.py holds each release to the verdict it gives on a real dump.
ppc64el-tools-releases:
	$(PYTHON) -m emulator.host.ppc64el_tools --release trixie
	$(PYTHON) -m emulator.host.ppc64el_tools --release sid

# The real-kernel ground truth (tests/reference/): builds Debian's linux-source-6.12 and -6.1 for ppc64le, boots
# them under sid's QEMU (pseries fadump), crashes them and keeps console, sysfs/debugfs, vmcore heads and
# makedumpfile verdicts. Needs root for apt-get install of the cross compiler; caches in .cache/reference. Not in CI.
reference:
	$(PYTHON) -m emulator.host.real_reference $(REFERENCE_ARGS)

test: $(STAMP) tools
	-@$(MAKE) --no-print-directory ppc64el-tools || echo "note: Debian's makedumpfile/crash could not be set up; their tests will be skipped"
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m emulator.host.bench --out bench.json

# The scenario format reference, written from emulator/scenario/keys.py and the fault catalog (a test fails when
# the committed file differs).
docs: $(STAMP)
	$(BIN)/fadump-emu schema --markdown -o docs/scenarios.md

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis *.egg-info
