# gocd-proxy-sync: build, test, demo.
SWIFT ?= swift
BIN := .build/debug/gocd-proxy-sync
PYTEST := python3 -m pytest
KEEP ?= 0
FUZZ_SECONDS ?= 30

.PHONY: build release test unit integration crash-campaign soak demo deb rpm bench clean fuzz sanitize asan tsan tsan-unit tls-scan

build:
	$(SWIFT) build

# The release binary, checked to load on every supported system (deploy/check-abi.sh: glibc 2.34, no DT_RELR).
release:
	$(SWIFT) build -c release --static-swift-stdlib --disable-local-rpath
	deploy/check-abi.sh .build/release/gocd-proxy-sync

# Unit tests of the pure core, then the integration tests against the real binary, nginx and apache2, then a
# short crash campaign (every step of an apply killed once or so, about 40 SIGKILLs).
test: build
	$(SWIFT) test
	$(PYTEST) -q Tests/integration
	python3 Tests/crash/campaign.py --short --reps 1 --random 6

unit:
	$(SWIFT) test

integration: build
	$(PYTEST) -q Tests/integration

# SIGKILLs at every fault point of an apply (debug build), CRASH_REPS times each, and CRASH_RANDOM at random
# instants, against a real nginx; writes Benchmarks/crash-campaign.md.
CRASH_REPS ?= 5
CRASH_RANDOM ?= 30
crash-campaign: build
	python3 Tests/crash/campaign.py --reps $(CRASH_REPS) --random $(CRASH_RANDOM) --report Benchmarks/crash-campaign.md

# The real `run` for CYCLES cycles (0.1 s apart) against a GoCD stand-in and a private nginx, a fault every ~100
# cycles (GoCD errors, down, TLS, failing test/reload, read-only include directory, SIGHUPs), each back in sync
# after; fails if fds or threads changed, a zombie stayed or VmRSS grew > 1 MiB after the warm-up.
# SOAK_REPORT=Benchmarks/soak.md writes the report.
CYCLES ?= 10000
SOAK_REPORT ?=
soak: build
	python3 Tests/soak/soak.py --cycles $(CYCLES) $(if $(SOAK_REPORT),--report $(SOAK_REPORT))

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan .build-sslyze dist

# sslyze (from PyPI, into .build-sslyze) checks the GoCD site as each proxy serves it against Mozilla's profiles,
# with each tls_profile, behind Debian's stock TLS lines; fails if a written profile is not compliant. Writes
# Benchmarks/tls-scan.md (TLS_SCAN_REPORT= to write none).
TLS_SCAN_REPORT ?= Benchmarks/tls-scan.md
tls-scan: build
	@python3 -c 'import ensurepip' 2>/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }
	@test -x .build-sslyze/bin/python || { python3 -m venv .build-sslyze && .build-sslyze/bin/pip install -q 'sslyze==6.3.1'; }
	python3 Tests/tls/scan.py --sslyze .build-sslyze/bin/python $(if $(TLS_SCAN_REPORT),--report $(TLS_SCAN_REPORT))

# The product end to end on loopback: GoCD stand-in, private nginx, the daemon. KEEP=1 leaves it running.
demo:
	KEEP=$(KEEP) Tests/demo/demo.sh

# dist/gocd-proxy-sync_<version>-<revision>_<arch>.deb (static-stdlib release binary, man page, completions).
deb:
	deploy/build-deb.sh

# dist/gocd-proxy-sync-<version>-1.<arch>.rpm from the same binary, RHEL paths (rpmbuild; Debian's rpm package).
rpm:
	deploy/build-rpm.sh

# Benchmarks against the shell loop in Benchmarks/baseline.sh; writes Benchmarks/results.md (not part of make test).
# Then the scale rows (Benchmarks/scale.py -> Benchmarks/scale.md): one apply beside 10 ... 40,000 other sites.
# BENCH_ONLY=scale runs only those (BENCH_SCALE="10 1000" picks the sizes). BENCH_ONLY=load: h2load through each
# proxy's rendered site against a fast backend, beside h2load straight at it (prints the figures). Then what
# watching the certificates costs an idle cycle (Benchmarks/certwatch.py, strace over the running daemon;
# BENCH_ONLY=certwatch alone).
bench:
	@for pair in jq:jq curl:curl nginx:nginx openssl:openssl h2load:nghttp2-client apache2:apache2 strace:strace; do \
	    command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@if [ "$(BENCH_ONLY)" != scale ] && [ "$(BENCH_ONLY)" != certwatch ]; then python3 Benchmarks/bench.py; fi
	@if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = scale ]; then python3 Benchmarks/scale.py; fi
	@if [ -z "$(BENCH_ONLY)" ] || [ "$(BENCH_ONLY)" = certwatch ]; then python3 Benchmarks/certwatch.py --report Benchmarks/certwatch.md; fi

# libFuzzer targets under Tests/Fuzz (site URLs → plan → render, GoCD answers, JSON, TOML/settings), each run
# FUZZ_SECONDS (default 30); fails on any crash or broken property. Builds into .build-fuzz/.
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) Tests/Fuzz/run.sh

# Unit tests under AddressSanitizer and ThreadSanitizer (own scratch paths, so .build is left alone).
sanitize: asan tsan

# Leak checking stays on; only XCTest's own runner, which keeps its suites alive at exit, is suppressed.
asan:
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/sanitizers/lsan.supp $(SWIFT) test --sanitize=address --scratch-path .build-asan

tsan:
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --sanitize=thread --scratch-path .build-tsan

# CI's fast variant: the thread sanitizer on the unit tests of the pure core and the system layer.
tsan-unit: tsan
