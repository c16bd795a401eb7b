# gocd-proxy-sync: build, test, demo.
SWIFT ?= swift
BIN := .build/debug/gocd-proxy-sync
PYTEST := python3 -m pytest

.PHONY: build release test unit integration demo deb bench clean

build:
	$(SWIFT) build

release:
	$(SWIFT) build -c release --static-swift-stdlib

# Unit tests of the pure core, then the integration tests against the real binary, nginx and apache2.
test: build
	$(SWIFT) test
	$(PYTEST) -q Tests/integration

unit:
	$(SWIFT) test

integration: build
	$(PYTEST) -q Tests/integration

clean:
	rm -rf .build dist
