# gatehouse: `make run` serves on embedded defaults, `make test` runs every test.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: run build image test test-full test-postgres test-postgres-pass vet lint fmt bench fuzz clean

run:
	$(GO) run . serve

build:
	CGO_ENABLED=1 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o gatehouse .

# image builds the container image (Dockerfile) with docker, else podman;
# without either it says so and exits 2. No test needs it.
IMAGE ?= gatehouse:$(VERSION)
image:
	@tool=$$(command -v docker || command -v podman || true); \
	if [ -z "$$tool" ]; then echo "image: no container tool (docker or podman) found"; exit 2; fi; \
	echo "$$tool build --build-arg VERSION=$(VERSION) -t $(IMAGE) ."; \
	"$$tool" build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# test runs every test under the race detector through .ci/testsum.go,
# which prints failures, the skipped tests with their reasons, and a closing
# "N passed, M failed, K skipped" line; then each fuzz target briefly.
test: vet lint
	$(GO) run .ci/testsum.go -race -count=1 -timeout 20m ./...
	@$(MAKE) --no-print-directory fuzz

# test-full is make test with each fuzz target run for FULLFUZZTIME instead
# of FUZZTIME: every test (the crash, load and browser tests among them)
# fits make test's budget, so only fuzzing is longer. .ci/run runs it.
FULLFUZZTIME ?= 20s
test-full:
	@$(MAKE) --no-print-directory test FUZZTIME=$(FULLFUZZTIME)

# test-postgres runs every test again on PostgreSQL: .ci/postgres.sh starts
# a throwaway server (Debian's postgresql package; nothing is left behind)
# and sets GATEHOUSE_TEST_DATABASE, so each test gets a database of its own,
# copied from a migrated template. Then the login form is fuzzed against it.
test-postgres:
	bash .ci/postgres.sh $(MAKE) --no-print-directory test-postgres-pass

test-postgres-pass:
	@test -n "$$GATEHOUSE_TEST_DATABASE" || (echo 'test-postgres-pass: run it through make test-postgres'; exit 2)
	$(GO) run .ci/testsum.go -race -count=1 -timeout 20m ./...
	@GO='$(GO)' bash .ci/fuzz.sh $(FUZZTIME) ./handlers:FuzzLoginForm

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1)
	$(GO) vet ./...

# staticcheck at a pinned version (fetched through the Go module proxy on
# first use, then cached).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	$(GO) run $(STATICCHECK) ./...

# Benchmarks (docs/benchmarks.md): the Go benchmarks, then the load generator
# and measurement program, which prints a metric | measured | target | verdict
# table. Fails only on errors, never on a missed target. BENCHFLAGS is passed
# to it, e.g. BENCHFLAGS='-big 100000 -duration 2s' for a quick run. With
# PostgreSQL installed it runs under .ci/postgres.sh (a throwaway server,
# whose URL it takes from GATEHOUSE_TEST_DATABASE), measuring SQLite and
# PostgreSQL in the same run; without, SQLite only.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "bench: SQLite and PostgreSQL (bash .ci/postgres.sh $(GO) run ./bench $(BENCHFLAGS))"; \
		GO='$(GO)' bash .ci/postgres.sh $(GO) run ./bench $(BENCHFLAGS); \
	else \
		echo "bench: PostgreSQL skipped (no /usr/lib/postgresql/*/bin/initdb; apt-get install postgresql): SQLite only"; \
		GO='$(GO)' $(GO) run ./bench -postgres '' $(BENCHFLAGS); \
	fi

# Fuzzing (.ci/fuzz.sh): each target for FUZZTIME (go test -fuzz takes one target per
# package per run); a failing input is saved under the package's
# testdata/fuzz/FuzzXxx/ and then runs as a seed in every plain `go test`.
# Fuzz longer with e.g. `make fuzz FUZZTIME=5m`.
FUZZTIME    ?= 3s
FUZZTARGETS ?= ./config:FuzzConfigLoad ./handlers:FuzzSafeNext ./handlers:FuzzLoginForm ./handlers:FuzzResetForm ./handlers:FuzzSecondStep \
               ./handlers:FuzzCallbackQuery ./handlers:FuzzBackchannelLogout
fuzz:
	@GO='$(GO)' bash .ci/fuzz.sh $(FUZZTIME) $(FUZZTARGETS)

clean:
	rm -f gatehouse
