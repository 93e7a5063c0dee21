# Veilig — see README.md. Every target is self-contained on a Debian machine with Go.
GO            ?= go
# Builds and tests use Go 1.27.3, which the go command fetches from the module
# proxy (the standard library of 1.26.8 has vulnerabilities govulncheck reports;
# docs/decisions.md). go.mod stays at language version 1.26.
export GOTOOLCHAIN ?= go1.27.3
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN           := bin/veilig

.PHONY: all build run test test-security test-faults bench bench-load lint demo-ldif clean addins

all: build

build:
	$(GO) build -trimpath -o $(BIN) .

## run: the server on the embedded SQLite default with the demo community
run: build
	./scripts/run.sh

## test: everything, on real PostgreSQL and OpenLDAP (started and stopped here)
test:
	./scripts/test.sh

## test-security: the security suite alone (also part of make test), with govulncheck
test-security:
	TEST_PACKAGES=./internal/security/... ./scripts/test.sh
	./scripts/govulncheck.sh

## test-faults: the fault suite alone (also part of make test)
test-faults:
	TEST_PACKAGES=./internal/faults/... ./scripts/test.sh

## bench: Go benchmarks plus load scripts; figures go to docs/benchmarks.md
bench: build
	./scripts/bench.sh

## bench-load: mixed load to find the knee, then a 30-minute soak (issue 7); figures in docs/benchmarks.md
bench-load: build
	./scripts/bench-load.sh

lint:
	@unformatted=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); \
		if [ -n "$$unformatted" ]; then echo "$$unformatted" >&2; echo "gofmt: files above need formatting" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## addins: bin/veilig-thunderbird.xpi (addin/thunderbird with addin/core under core/, no tests)
addins:
	rm -rf bin/thunderbird bin/veilig-thunderbird.xpi && mkdir -p bin/thunderbird/core
	cp -R addin/thunderbird/. bin/thunderbird/ && rm -rf bin/thunderbird/testing bin/thunderbird/*.test.js
	cp addin/core/*.js bin/thunderbird/core/ && rm -f bin/thunderbird/core/*.test.js
	cd bin/thunderbird && zip -q -r -X -D ../veilig-thunderbird.xpi . && cd .. && rm -rf thunderbird

## demo-ldif: regenerate the demo community shipped in scripts/
demo-ldif:
	$(GO) run ./scripts/gencommunity -out scripts/demo-community.ldif

clean:
	rm -rf bin
