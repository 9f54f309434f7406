# Netwarden: one entry point for building, testing and running.
# Targets that enter the reference rootfs (test, demo, shell) need root: namespaces,
# mounts and netfilter. The rootfs is built on first use and cached (tools/devenv).

RUFF_VERSION := 0.17.6
MYPY_VERSION := 2.4.1
PREFIX ?= /usr/local
DESTDIR ?=
PYTHON ?= python3
LINT_VENV := .venv-lint
PYTEST_ARGS ?=

.PHONY: test lint bench soak demo shell rootfs install uninstall deb man screenshots clean bpf

## test: run the whole test suite inside the Debian 13 reference rootfs
test:
	tools/devenv run -- sh -c 'make bpf && python3 -m pytest "$$@"' test $(PYTEST_ARGS)

## bpf: the data plane's CO-RE object (clang, libbpf headers; vmlinux.h from this kernel's
## BTF by bpftool, or from VMLINUX_BTF). The helper loads it at run time through libbpf.
BPF_OBJECT := helper/data_plane/netwarden.bpf.o
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
bpf: $(BPF_OBJECT)

bpf/vmlinux.h:
	bpftool btf dump file $(VMLINUX_BTF) format c > $@.new
	mv $@.new $@

$(BPF_OBJECT): bpf/netwarden.bpf.c bpf/vmlinux.h
	clang -g -O2 -Wall -Werror -target bpfel -I bpf -c $< -o $@.new
	llvm-strip -g $@.new
	mv $@.new $@

## lint: ruff over the Python sources, mypy over the three packages
lint: $(LINT_VENV)/bin/ruff $(LINT_VENV)/bin/mypy
	$(LINT_VENV)/bin/ruff check .
	$(LINT_VENV)/bin/ruff format --check .
	@# mypy finds the packages by their import names (pyproject.toml, [tool.mypy])
	@mkdir -p .lint-path
	@ln -sfn ../app .lint-path/netwarden
	@ln -sfn ../helper .lint-path/netwarden_helper
	@ln -sfn ../common .lint-path/netwarden_common
	$(LINT_VENV)/bin/mypy -p netwarden_common -p netwarden_helper -p netwarden

$(LINT_VENV)/bin/ruff:
	python3 -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet ruff==$(RUFF_VERSION)

$(LINT_VENV)/bin/mypy: $(LINT_VENV)/bin/ruff
	$(LINT_VENV)/bin/pip install --quiet mypy==$(MYPY_VERSION)

## soak: the long reliability variants (storms, many crashes), not part of make test
soak:
	tools/devenv run -- python3 -m pytest -m soak tests/reliability $(PYTEST_ARGS)

## bench: the benchmarks, each printing its figures beside a baseline (docs/benchmarks.md)
bench:
	tools/devenv run -- make bpf
	tools/devenv run -- python3 bench/history_queries.py
	tools/devenv run -- python3 bench/blocklist_match.py
	tools/devenv run -- python3 bench/blocklist_memory.py
	tools/devenv run -- python3 bench/rule_decisions.py
	tools/devenv run -- python3 bench/model_flood.py
	tools/devenv run -- python3 bench/rules_filter.py
	tools/devenv run -- python3 bench/connect_latency.py 3<"$$(tools/opensnitch-rootfs || echo /dev/null)"
	tools/devenv run -- python3 bench/throughput.py
	tools/devenv run -- python3 bench/attribution_latency.py
	tools/devenv run -- python3 bench/idle_accounting.py
	tools/devenv run -- python3 bench/prompt_path.py
	tools/devenv run -- python3 bench/hashing_isolation.py

## demo: the whole product in a sandbox (netns, private system bus, polkitd, helper, app)
demo:
	tools/devenv run -- python3 tools/demo.py

## deb: build the Debian package (dpkg-buildpackage) into dist/, inside the reference rootfs
deb:
	tools/devenv run -- python3 tools/build_deb.py /src/dist

## screenshots: regenerate docs/screenshots/ with the tests that take them (real helper)
SCREENSHOTS := status-running prompt monitor monitor-program rules alerts alerts-packet-socket history \
	history-week blocklists silent settings map diagram-range world-map profiles \
	profile-switches
screenshots:
	tools/devenv run -- python3 -m pytest -q tests/test_slice.py tests/test_prompt_window.py \
		tests/test_app_alerts.py tests/test_app_pages.py tests/test_app_history.py tests/test_app_map.py \
		tests/test_app_world.py tests/test_app_profiles.py
	for name in $(SCREENSHOTS); do cp test-artifacts/$$name.png docs/screenshots/; done

## man: regenerate the man pages in man/ from the programs' argument parsers
man:
	tools/devenv run -- python3 tools/manpages.py

## install: the packages, commands and system files (PREFIX, DESTDIR; see tools/install.py)
install:
	$(PYTHON) tools/install.py --prefix "$(PREFIX)" --destdir "$(DESTDIR)"

## uninstall: remove exactly what install put there (the rules database stays)
uninstall:
	$(PYTHON) tools/install.py --uninstall --prefix "$(PREFIX)" --destdir "$(DESTDIR)"

## shell: a shell inside the reference rootfs, the checkout at /src
shell:
	tools/devenv shell

## rootfs: build the reference rootfs now (otherwise built on first use)
rootfs:
	tools/devenv build

clean:
	rm -f $(BPF_OBJECT) bpf/vmlinux.h
	rm -rf $(LINT_VENV) .lint-path .mypy_cache test-artifacts .pytest_cache .ruff_cache
