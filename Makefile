# dcrond — build, test, install.
#
#   make            release build (Swift standard library linked statically)
#   make test       unit and integration tests (starts its own redis-server)
#   make run        local demo
#   make bench      benchmarks that print figures
#   make chaos      faults injected into a real pool for CHAOS_SECONDS (default 600), then an audit
#   make fuzz       libFuzzer with AddressSanitizer on each parser for FUZZ_SECONDS (default 60) each
#   make install    PREFIX=/usr/local DESTDIR= (binary, systemd unit, a starting configuration)
#
# `deps` installs the Debian packages the build and the tests need, with apt-get, when missing.

PREFIX     ?= /usr/local
DESTDIR    ?=
SYSCONFDIR ?= /etc
BINDIR     ?= $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SWIFT      ?= swift

# iproute2 and nftables: tests and `make chaos` cut a node off from Redis in a network namespace.
APT_PACKAGES := libhiredis-dev redis-server pkg-config tzdata iproute2 nftables
CHAOS_SECONDS ?= 600
CHAOS_ARGS    ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build deps test bench chaos fuzz run install uninstall clean

all: build

deps:
	@missing=""; \
	for package in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build -c release --static-swift-stdlib --product dcrond

# The suites that start sentinel groups, and the chaos runs, each go after the others: on two
# cores their load skewed the timing assertions of the pool tests (a leave seen in 0.55 s instead
# of 0.5 s) and slowed a replica's resync past a fixed wait.
SENTINEL_SUITES = FailoverEndToEndTests|SentinelClientTests
CHAOS_SUITES = ChaosTests

# The pool tests assert real-time bounds of a quarter-second heartbeat: they run first, alone.
TIMING_SUITES = NodePoolTests

# The hostile-input suites load a 1,000,000-element file, a 10 MB key and spawn ~100 commands:
# seconds of synchronous work on the two threads of the cooperative pool, which made the client's
# 300 ms timeouts measure 2.7 s beside them. They go after the others.
INPUT_SUITES = HostileInputTests|HostileInputCommandTests|MalformedCorpusTests

# umask 022: dcrond refuses configuration files others can write, and the tests write theirs.
test: deps
	$(SWIFT) build --build-tests
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(TIMING_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --skip '$(TIMING_SUITES)|$(INPUT_SUITES)|$(SENTINEL_SUITES)|$(CHAOS_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(INPUT_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(SENTINEL_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(CHAOS_SUITES)'

bench: deps
	$(SWIFT) build -c release --product dcrond
	$(SWIFT) build -c release --product dcrond-bench
	.build/release/dcrond-bench redis
	.build/release/dcrond-bench schedule
	.build/release/dcrond-bench placement
	.build/release/dcrond-bench heartbeat
	.build/release/dcrond-bench claims
	.build/release/dcrond-bench idle
	.build/release/dcrond-bench soak --seconds 300
	.build/release/dcrond-bench spawn

# Random faults from the whole catalogue (`dcrond-chaos --help`) against a private redis-server and
# three nodes with 20 jobs every second, then the audit table; exits 1 if it finds a duplicate, a
# loss outside the documented window or overlapping forbid runs. Network faults need root.
# CHAOS_ARGS=--sentinel: against a master, two replicas and three sentinels, with claimReplicas 1.
chaos: deps
	$(SWIFT) build -c release --product dcrond
	$(SWIFT) build -c release --product dcrond-chaos
	.build/release/dcrond-chaos --duration $(CHAOS_SECONDS) $(CHAOS_ARGS)

# libFuzzer targets (Fuzz/dcrond-fuzz: cron, duration, json, configuration), built with the
# address and leak sanitizers, each from its committed seed corpus (Fuzz/corpus; regenerate with
# Fuzz/seed-corpus.py) copied to a scratch folder. Fails on a crash, a hang over FUZZ_TIMEOUT
# seconds, a leak or a sanitizer report; the input is kept as Fuzz/findings/TARGET-*.
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10
FUZZ_TARGETS ?= cron duration json configuration
FUZZ_BUILD := $(SWIFT) build -c release --product dcrond-fuzz --build-path .build-fuzz \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -DDCROND_FUZZ -Xcc -fsanitize=fuzzer-no-link,address

fuzz: deps
	$(FUZZ_BUILD)
	@mkdir -p Fuzz/findings
	@for target in $(FUZZ_TARGETS); do \
	  work=$$(mktemp -d) && cp Fuzz/corpus/$$target/* $$work/ && \
	  echo "fuzz $$target: $(FUZZ_SECONDS) s" && \
	  if DCROND_FUZZ_TARGET=$$target .build-fuzz/release/dcrond-fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) \
	       -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=Fuzz/findings/$$target- $$work > $$work.log 2>&1; then \
	    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' $$work.log; rm -rf $$work $$work.log; \
	  else \
	    tail -40 $$work.log; echo "fuzz $$target: FAILED (log $$work.log)"; exit 1; \
	  fi; \
	done

# The demo: a private redis-server on loopback (a unix socket in a temporary folder) and three
# nodes running the example configuration (config/dcrond.json) with the demo table
# (config/demo-jobs.json: jobs every few seconds), their logs merged and filtered to show which
# node runs what. Ctrl-C stops the nodes (they leave the pool), then Redis, and cleans up.
run: build
	@dir=$$(mktemp -d /tmp/dcrond-demo-XXXXXX); \
	redis-server --port 0 --unixsocket $$dir/redis.sock --save "" --appendonly no --daemonize yes \
	  --pidfile $$dir/redis.pid --logfile $$dir/redis.log; \
	for i in $$(seq 50); do [ -S $$dir/redis.sock ] && break; sleep 0.1; done; \
	pids=""; \
	for node in node-a node-b node-c; do \
	  sed -e "s|\"node\": *\"[^\"]*\"|\"node\": \"$$node\"|" \
	      -e "s|\"redis\": *\"[^\"]*\"|\"redis\": \"unix://$$dir/redis.sock\"|" \
	      -e "s|\"jobs\": *\"[^\"]*\"|\"jobs\": \"$(CURDIR)/config/demo-jobs.json\"|" \
	      config/dcrond.json > $$dir/$$node.json; \
	  .build/release/dcrond run --config $$dir/$$node.json 2>&1 \
	    | grep --line-buffered -E 'starting|pool changed|stream=stdout|left the pool|stopped|skipped|failed' \
	    | sed -u -e "s/^/[$$node] /" -e 's/ \[DcrondCore\]//' -e 's/ \[dcrond\]//' & \
	  pids="$$pids $$!"; \
	done; \
	echo "three nodes on unix://$$dir/redis.sock; dcrond status --config $$dir/node-a.json shows the pool. Ctrl-C stops."; \
	trap 'pkill -TERM -f "dcrond run --config $$dir" ; sleep 3; kill $$(cat $$dir/redis.pid) 2>/dev/null; rm -rf $$dir; exit 0' INT TERM; \
	wait

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/dcrond
	install -m 0755 .build/release/dcrond $(DESTDIR)$(BINDIR)/dcrond
	sed 's|/usr/local/bin/dcrond|$(BINDIR)/dcrond|g; s|/etc/dcrond|$(SYSCONFDIR)/dcrond|g' systemd/dcrond.service \
	  > $(DESTDIR)$(UNITDIR)/dcrond.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/dcrond.service
	@# An existing configuration is the operator's: never overwrite it. The one installed is
	@# config/default: standalone, no job, the node named after the host (not the demo's node-a).
	@for file in config/default/dcrond.json config/default/jobs.json; do \
	  target=$(DESTDIR)$(SYSCONFDIR)/dcrond/$$(basename $$file); \
	  if [ -e $$target ]; then echo "keeping existing $$target"; else install -m 0644 $$file $$target; fi; \
	done
	@echo "installed $(DESTDIR)$(BINDIR)/dcrond; it needs the runtime package libhiredis0.14 (apt-get install libhiredis0.14)"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dcrond $(DESTDIR)$(UNITDIR)/dcrond.service
	@echo "left $(DESTDIR)$(SYSCONFDIR)/dcrond in place (configuration)"

clean:
	rm -rf .build
