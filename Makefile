# xenagent. `make run` serves the agent on http://127.0.0.1:8080/xmlrpc/;
# `make test` runs every test, installing and starting what they need.
SHELL := /bin/bash
GO ?= go
LISTEN ?= 127.0.0.1:8080
APT := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600
DEPS := pkg-config gcc libvirt-dev libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils \
        linux-image-amd64 busybox-static btrfs-progs python3 curl procps \
        debootstrap e2fsprogs openssh-client lvm2 thin-provisioning-tools genisoimage \
        iputils-ping arping iperf3 iproute2
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

LAB_CACHE ?= /var/cache/xenagent-lab

.PHONY: all build deps run test test-unit lab lab-test bench fuzz clean

all: build

deps:
	@missing=""; for p in $(DEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ $$(id -u) -eq 0 ] || echo sudo ); \
	  $$SUDO $(APT) update && $$SUDO $(APT) install -y --no-install-recommends $$missing; \
	fi
	$(GO) mod download

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/xenagent ./cmd/xenagent
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/xenagentctl ./cmd/xenagentctl

run: build
	mkdir -p var
	./bin/xenagent serve --config deploy/dev.toml --listen $(LISTEN)

# Everything, root-needing and libvirtd/QEMU tests included.
test: build
	./deploy/test/start-libvirtd.sh
	$(GO) vet ./...
	XENAGENT_REQUIRE_QEMU=1 XENAGENT_REQUIRE_ROOT=1 $(GO) test -count=1 -timeout 40m ./...
	@# Restarts libvirtd under a live connection: alone, after the rest.
	XENAGENT_LIBVIRTD_RESTART=1 $(GO) test -count=1 -run TestReconnectAfterLibvirtdRestart -v ./hypervisor/
	./deploy/test/python-client.sh
	$(GO) build -o bin/xenagent-bench ./cmd/xenagent-bench
	bin/xenagent-bench -rounds 50 -ops 1000 -vms 2000 -image-gib 1 -net-seconds 2 > /dev/null || [ $$? -eq 3 ]
	$(MAKE) lab-test

# The nested Xen lab: builds (once, cached in $(LAB_CACHE)) a Debian dom0
# image with Xen, boots it under QEMU and runs the scenarios against the
# agent inside (see deploy/lab). ~10 min to build the image, ~10 to run.
lab-test: build
	XENAGENT_LAB=1 XENAGENT_LAB_CACHE=$(LAB_CACHE) $(GO) test -count=1 -timeout 60m -run TestXenLab -v ./deploy/lab/

# Boots the lab for a person to use; Ctrl-C powers it down.
lab: build
	$(GO) run ./deploy/lab/cmd/lab -cache $(LAB_CACHE)

test-unit:
	$(GO) test -count=1 -short ./...

# Prints the table; exits 3 when a target is missed.
bench: build
	$(GO) build -o bin/xenagent-bench ./cmd/xenagent-bench
	bin/xenagent-bench

fuzz:
	$(GO) test ./agent/xmlrpc -run XXX -fuzz FuzzDecodeCall -fuzztime 60s

clean:
	rm -rf bin var

# The Debian package a host installs (deploy/deb): bin/xenagent_<version>_<arch>.deb.
.PHONY: deb
deb: build
	./deploy/deb/build-deb.sh bin "$(VERSION)"
