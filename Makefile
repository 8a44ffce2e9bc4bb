# xenagent. `make run` serves the agent on http://127.0.0.1:8080/xmlrpc/;
# `make test` runs every test, installing and starting what they need.
SHELL := /bin/bash
GO ?= go
LISTEN ?= 127.0.0.1:8080
# make run's configuration; deploy/dev-b.toml is a second agent beside it.
CONFIG ?= deploy/dev.toml
# env: with SUDO empty the assignment must not become the command name.
APT := env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600
# What `make run` needs to build and run the agent on the test driver
# (cgo against libvirt; libvirt-dev brings libvirt0, whose built-in test
# driver make run uses). Everything else is for the tests and the lab.
RUN_DEPS := pkg-config gcc libc6-dev libvirt-dev
TEST_DEPS := libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils \
        linux-image-amd64 busybox-static btrfs-progs python3 curl procps git \
        debootstrap e2fsprogs xfsprogs jfsutils reiserfsprogs libxmlrpc-lite-perl openssh-client lvm2 thin-provisioning-tools genisoimage isolinux syslinux-common \
        iputils-ping iputils-arping iperf3 iproute2 dpkg-dev \
        chromium chromium-driver \
        ruby ruby-xmlrpc libxmlrpc-core-c3-dev libcurl4-openssl-dev nodejs
# apt_install(packages, for): installs the missing ones; --no-remove makes a
# conflict fail instead of removing what the machine already has.
define apt_install
@missing=""; for p in $(1); do \
  [ "$$(dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null)" = installed ] || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  echo "==> $(2): installing$$missing with apt-get (first time: ~1 min; never removes a package)"; \
  if [ $$(id -u) -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
  { $$SUDO $(APT) update -q && $$SUDO $(APT) install -y -q --no-install-recommends --no-remove $$missing; } || { \
    echo "apt-get could not install$$missing (see above). If it refused because packages would be removed," \
         "one conflicts with a package on this machine: nothing was removed; install the rest by hand." >&2; exit 1; }; \
fi
endef
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

LAB_CACHE ?= /var/cache/xenagent-lab
FRESH_CACHE ?= /var/cache/xenagent-fresh-root

.PHONY: all build deps web test-deps fresh-root run test test-unit lab lab-test lab-test-two bench fuzz clean

all: build

deps:
	$(call apt_install,$(RUN_DEPS),make run)
	@command -v $(GO) >/dev/null || { echo "go not found: install Go $$(sed -n 's/^go //p' go.mod) or newer (https://go.dev/dl/) and put it on PATH" >&2; exit 1; }
	@echo "==> Go modules: go mod download (first time: ~15 s, then cached)"
	@$(GO) mod download

test-deps:
	$(call apt_install,$(TEST_DEPS),make test)

# The console page's terminal (xterm.js): the tarballs
# agent/console/web/package-lock.json pins, integrity-checked, extracted
# into agent/console/web/dist and embedded by go build. No Node needed;
# cached by hash (WEB_CACHE, default ~/.cache/xenagent-web), so later
# builds work offline.
WEB_CACHE ?=
web:
	@echo "==> console assets: xterm.js from the npm registry, checked against agent/console/web/package-lock.json"
	$(GO) run ./deploy/web/fetch -dir agent/console/web $(if $(WEB_CACHE),-cache $(WEB_CACHE))

build: deps web
	@echo "==> building bin/xenagent and bin/xenagentctl (cgo with libvirt; first time: 3-5 min on 2 cores, then seconds)"
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/xenagent ./cmd/xenagent
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/xenagentctl ./cmd/xenagentctl

run: build
	mkdir -p var
	@echo "==> serving http://$(LISTEN)/xmlrpc/ (Ctrl-C stops)"
	./bin/xenagent serve --config $(CONFIG) --listen $(LISTEN)

# Everything, root-needing and libvirtd/QEMU tests included.
test: build test-deps
	./deploy/test/start-libvirtd.sh
	$(GO) vet ./...
	XENAGENT_REQUIRE_QEMU=1 XENAGENT_REQUIRE_ROOT=1 XENAGENT_REQUIRE_BROWSER=1 $(GO) test -count=1 -timeout 40m ./...
	@# Restarts libvirtd under a live connection: alone, after the rest.
	XENAGENT_LIBVIRTD_RESTART=1 $(GO) test -count=1 -run TestReconnectAfterLibvirtdRestart -v ./hypervisor/
	./deploy/test/python-client.sh
	$(GO) build -o bin/xenagent-bench ./cmd/xenagent-bench
	bin/xenagent-bench -rounds 50 -ops 1000 -vms 2000 -image-gib 1 -net-seconds 2 -transfer-gib 1 -transfer-data-mib 64 -transfer-delta-mib 16 > /dev/null || [ $$? -eq 3 ]
	$(MAKE) fresh-root
	$(MAKE) lab-test

# The README's first command on a fresh Debian 12: `make run` in a
# debootstrap minbase root (cached in $(FRESH_CACHE)) from a clone of the
# committed HEAD, until the API answers; then deploy/deb/check-in-root.sh
# in the same root when it exists. ~13 min with no cache (debootstrap
# ~5.5), ~5 with one: apt, module download and the first cgo build.
fresh-root: test-deps
	XENAGENT_FRESH_CACHE=$(FRESH_CACHE) ./deploy/test/fresh-root.sh

# The nested Xen lab: builds (once, cached in $(LAB_CACHE)) a Debian dom0
# image with Xen, boots it under QEMU and runs the scenarios against the
# agent inside (see deploy/lab). ~10 min to build the image, ~10 to run.
# Two hosts boot at once (A, and a smaller B on the same guests' segment);
# the two-host scenario runs first, then B powers down and the rest run on A.
lab-test: build test-deps
	XENAGENT_LAB=1 XENAGENT_LAB_CACHE=$(LAB_CACHE) $(GO) test -count=1 -timeout 70m -run TestXenLab -v ./deploy/lab/

# Only the two hosts and their scenario (moving VMs between hosts).
lab-test-two: build test-deps
	XENAGENT_LAB=1 XENAGENT_LAB_ONLY=twohost XENAGENT_LAB_CACHE=$(LAB_CACHE) $(GO) test -count=1 -timeout 50m -run TestXenLab -v ./deploy/lab/

# Boots the lab for a person to use (LAB_HOSTS=2: hosts A and B); Ctrl-C
# powers it down.
LAB_HOSTS ?= 1
lab: build test-deps
	$(GO) run ./deploy/lab/cmd/lab -cache $(LAB_CACHE) -hosts $(LAB_HOSTS)

test-unit:
	$(GO) test -count=1 -short ./...

# Prints the table; exits 3 when a target is missed.
bench: build test-deps
	$(GO) build -o bin/xenagent-bench ./cmd/xenagent-bench
	bin/xenagent-bench

fuzz:
	$(GO) test ./agent/xmlrpc -run XXX -fuzz FuzzDecodeCall -fuzztime 60s

clean:
	rm -rf bin var var-b

# The Debian package a host installs (deploy/deb): bin/xenagent_<version>_<arch>.deb.
.PHONY: deb
deb: build
	$(call apt_install,dpkg-dev,make deb)
	./deploy/deb/build-deb.sh bin "$(VERSION)"
