# dcrond — build, test, install.
#
#   make            release build (Swift standard library linked statically)
#   make test       unit and integration tests (starts its own redis-server; as root, also the package
#                   under a real systemd in a booted container)
#   make run        local demo
#   make bench      benchmarks that print figures
#   make chaos      faults injected into a real pool for CHAOS_SECONDS (default 600), then an audit
#   make fuzz       libFuzzer with AddressSanitizer on each parser for FUZZ_SECONDS (default 60) each
#   make install    PREFIX=/usr/local DESTDIR= (binary, unit, manual pages, completions, a starting configuration)
#   make deb        .build/deb/dcrond_<version>_<arch>.deb, with dpkg-deb
#   make format     swift-format the tree (.swift-format); make lint checks it
#
# `deps` installs the Debian packages the build and the tests need, with apt-get, when missing.

PREFIX     ?= /usr/local
DESTDIR    ?=
SYSCONFDIR ?= /etc
BINDIR     ?= $(PREFIX)/bin
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SWIFT      ?= swift

# iproute2 and nftables: tests and `make chaos` cut a node off from Redis in a network namespace.
# binutils: `make deb` reads the libraries the binary links (objdump) for its Depends:.
APT_PACKAGES := libhiredis-dev libsystemd-dev redis-server pkg-config tzdata iproute2 nftables binutils
CHAOS_SECONDS ?= 600
CHAOS_ARGS    ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build deps format lint test test-systemd bench chaos fuzz run install install-files uninstall deb clean

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

# The tree's format is swift-format's with .swift-format (swift-nio's: 4 spaces, 120 columns).
format:
	$(SWIFT) format format --in-place --recursive --parallel Sources Tests Fuzz

lint:
	$(SWIFT) format lint --strict --recursive --parallel Sources Tests Fuzz

# The suites that start sentinel groups, and the chaos runs, each go after the others, one suite
# at a time: on two cores their load skewed the timing assertions of the pool tests (a leave seen
# in 0.55 s instead of 0.5 s), slowed a replica's resync past a fixed wait, and kept a group beside
# the other suite's from settling within 30 s.
SENTINEL_CLIENT_SUITES = SentinelClientTests
SENTINEL_FAILOVER_SUITES = FailoverEndToEndTests
SENTINEL_SUITES = $(SENTINEL_CLIENT_SUITES)|$(SENTINEL_FAILOVER_SUITES)
CHAOS_SUITES = ChaosTests

# The pool tests assert real-time bounds of a quarter-second heartbeat, the client's tests that a
# 250 ms timeout fires within 2 s, the claim store's that a 2.5 s settle bound holds: they run
# first, without the load of the others (beside it, the client's timeouts measured 2.3-5 s).
TIMING_SUITES = NodePoolTests|RedisClientTests|RedisClaimStoreTests

# The hostile-input suites load a 1,000,000-element file, a 10 MB key and spawn ~100 commands:
# seconds of synchronous work on the two threads of the cooperative pool, which made the client's
# 300 ms timeouts measure 2.7 s beside them. They go after the others, and so do the placement
# checks (millions of scores in a debug build: beside them the same timeouts measured 5 s).
INPUT_SUITES = HostileInputTests|HostileInputCommandTests|MalformedCorpusTests|PlacementTests

# The suites that measure the gaps between a daemon's watchdog keep-alives and wait for debounced
# file events: after the others, so that their load does not stretch those gaps.
SERVICE_SUITES = ServiceProtocolTests|FileWatcherTests

# umask 022: dcrond refuses configuration files others can write, and the tests write theirs.
test: deps
	$(SWIFT) build --build-tests
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(TIMING_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --skip '$(TIMING_SUITES)|$(INPUT_SUITES)|$(SENTINEL_SUITES)|$(CHAOS_SUITES)|$(SERVICE_SUITES)|$(SYSTEMD_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(SERVICE_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(INPUT_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(SENTINEL_CLIENT_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(SENTINEL_FAILOVER_SUITES)'
	umask 022 && $(SWIFT) test --skip-build --disable-xctest --filter '$(CHAOS_SUITES)'
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) test-systemd; else echo "skipped $(SYSTEMD_SUITES): booting a container with systemd-nspawn needs root"; fi

# The package under a real systemd: `make deb`, then a debootstrapped bookworm (cached in
# /var/tmp as a tarball; about a minute to make) booted with systemd-nspawn. Root only.
SYSTEMD_SUITES = SystemdEndToEndTests
SYSTEMD_PACKAGES := systemd-container debootstrap

test-systemd: deb
	@missing=""; \
	for package in $(SYSTEMD_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  apt-get update -qq && env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(SWIFT) build --build-tests
	umask 022 && DCROND_DEB=$(CURDIR)/.build/deb/$(DEB_NAME).deb $(SWIFT) test --skip-build --disable-xctest --filter '$(SYSTEMD_SUITES)'

bench: deps
	$(SWIFT) build -c release --product dcrond
	$(SWIFT) build -c release --product dcrond-bench
	.build/release/dcrond-bench redis
	.build/release/dcrond-bench schedule
	.build/release/dcrond-bench placement
	.build/release/dcrond-bench heartbeat
	.build/release/dcrond-bench claims
	.build/release/dcrond-bench idle
	.build/release/dcrond-bench scale
	.build/release/dcrond-bench soak --seconds 300
	.build/release/dcrond-bench spawn
	.build/release/dcrond-bench latency

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
	    | sed -u -e "s/^/[$$node] /" & \
	  pids="$$pids $$!"; \
	done; \
	echo "three nodes on unix://$$dir/redis.sock; dcrond status --config $$dir/node-a.json shows the pool. Ctrl-C stops."; \
	trap 'pkill -TERM -f "dcrond run --config $$dir" ; sleep 3; kill $$(cat $$dir/redis.pid) 2>/dev/null; rm -rf $$dir; exit 0' INT TERM; \
	wait

# What `make install` and the package install, under $(DESTDIR): the binary, the unit, the
# journal catalog, manual pages (dcrond(8) from the argument parser's generate-manual,
# dcrond.json(5) and dcrond-jobs.json(5) from docs/configuration.md), shell completions, and a
# starting configuration (standalone, no job, the node named after the host) that never replaces
# an existing one.
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share
CATALOGDIR ?= $(PREFIX)/lib/systemd/catalog
MAN_DATE   := $(shell git log -1 --format=%cs 2>/dev/null || date +%F)
BUILT      := .build/release/dcrond

install-files:
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/dcrond $(DESTDIR)$(CATALOGDIR) \
	  $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DATADIR)/bash-completion/completions \
	  $(DESTDIR)$(DATADIR)/zsh/vendor-completions $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	install -m 0755 $(BUILT) $(DESTDIR)$(BINDIR)/dcrond
	sed 's|/usr/bin/dcrond|$(BINDIR)/dcrond|g; s|/etc/dcrond|$(SYSCONFDIR)/dcrond|g' systemd/dcrond.service \
	  > $(DESTDIR)$(UNITDIR)/dcrond.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/dcrond.service
	install -m 0644 systemd/dcrond.catalog $(DESTDIR)$(CATALOGDIR)/dcrond.catalog
	$(SWIFT) build -c release --product generate-manual
	rm -rf .build/man && mkdir -p .build/man
	.build/release/generate-manual $(BUILT) --section 8 --date $(MAN_DATE) --authors "the dcrond developers" --output-directory .build/man
	python3 docs/man/configuration-pages.py docs/configuration.md .build/man $(MAN_DATE)
	gzip -9n -c .build/man/dcrond.8 > $(DESTDIR)$(MANDIR)/man8/dcrond.8.gz
	gzip -9n -c .build/man/dcrond.json.5 > $(DESTDIR)$(MANDIR)/man5/dcrond.json.5.gz
	gzip -9n -c .build/man/dcrond-jobs.json.5 > $(DESTDIR)$(MANDIR)/man5/dcrond-jobs.json.5.gz
	chmod 0644 $(DESTDIR)$(MANDIR)/man8/dcrond.8.gz $(DESTDIR)$(MANDIR)/man5/dcrond*.5.gz
	$(BUILT) --generate-completion-script bash > $(DESTDIR)$(DATADIR)/bash-completion/completions/dcrond
	$(BUILT) --generate-completion-script zsh > $(DESTDIR)$(DATADIR)/zsh/vendor-completions/_dcrond
	$(BUILT) --generate-completion-script fish > $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/dcrond.fish
	chmod 0644 $(DESTDIR)$(DATADIR)/bash-completion/completions/dcrond $(DESTDIR)$(DATADIR)/zsh/vendor-completions/_dcrond \
	  $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/dcrond.fish
	@for file in config/default/dcrond.json config/default/jobs.json; do \
	  target=$(DESTDIR)$(SYSCONFDIR)/dcrond/$$(basename $$file); \
	  if [ -e $$target ]; then echo "keeping existing $$target"; else install -m 0644 $$file $$target; fi; \
	done

# The shared libraries the binary links, as the Debian packages that hold them (for Depends:).
RUNTIME_PACKAGES = $$(objdump -p $(BUILT) | awk '/NEEDED/ {print $$2}' | while read lib; do \
	  path=$$(ldconfig -p | awk -v l="$$lib" '$$1 == l && /x86-64|aarch64/ {print $$NF; exit}'); \
	  { dpkg -S "$$path" 2>/dev/null || dpkg -S "$$(readlink -f $$path)" 2>/dev/null; } | head -1 | cut -d: -f1; \
	done | sort -u | paste -sd, | sed 's/,/, /g')

install: build
	$(MAKE) install-files
	@echo "installed $(DESTDIR)$(BINDIR)/dcrond and its unit, manual pages and completions"
	@echo "runtime packages it needs: $(RUNTIME_PACKAGES) (apt-get install them on a machine that did not build it)"
	@echo "then: systemctl daemon-reload; journalctl --update-catalog; systemctl enable --now dcrond"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dcrond $(DESTDIR)$(UNITDIR)/dcrond.service $(DESTDIR)$(CATALOGDIR)/dcrond.catalog \
	  $(DESTDIR)$(MANDIR)/man8/dcrond.8.gz $(DESTDIR)$(MANDIR)/man5/dcrond.json.5.gz $(DESTDIR)$(MANDIR)/man5/dcrond-jobs.json.5.gz \
	  $(DESTDIR)$(DATADIR)/bash-completion/completions/dcrond $(DESTDIR)$(DATADIR)/zsh/vendor-completions/_dcrond \
	  $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/dcrond.fish
	@echo "left $(DESTDIR)$(SYSCONFDIR)/dcrond in place (configuration)"

# `make deb`: dcrond_<version>_<arch>.deb in .build/deb, with dpkg-deb alone (no network). The
# configuration files are conffiles; postinst and prerm enable and start nothing, and stop the
# service on removal.
VERSION  := $(shell sed -n 's/.*current = "\(.*\)"/\1/p' Sources/DcrondCore/Version.swift)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_NAME := dcrond_$(VERSION)_$(DEB_ARCH)
DEB_ROOT := .build/deb/$(DEB_NAME)

deb: build
	rm -rf $(DEB_ROOT) && mkdir -p $(DEB_ROOT)/DEBIAN
	$(MAKE) install-files DESTDIR=$(CURDIR)/$(DEB_ROOT) PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system
	install -d $(DEB_ROOT)/usr/share/doc/dcrond
	install -m 0644 README.md docs/*.md $(DEB_ROOT)/usr/share/doc/dcrond/
	sed -e 's/@VERSION@/$(VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' -e "s/@DEPENDS@/$(RUNTIME_PACKAGES)/" \
	  -e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1)/" systemd/debian/control > $(DEB_ROOT)/DEBIAN/control
	install -m 0644 systemd/debian/conffiles $(DEB_ROOT)/DEBIAN/conffiles
	install -m 0755 systemd/debian/postinst systemd/debian/prerm systemd/debian/postrm $(DEB_ROOT)/DEBIAN/
	dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) .build/deb/$(DEB_NAME).deb
	@echo "built .build/deb/$(DEB_NAME).deb (Depends: $$(dpkg-deb -f .build/deb/$(DEB_NAME).deb Depends))"

clean:
	rm -rf .build
