# The two commands of the README's quick start, and the pieces they use.
#   make run   set up, build, start the service
#   make test  set up, then fmt, clippy, doctor, the API against its OpenAPI
#              document and the whole test suite
CARGO ?= cargo
LISTEN ?= 127.0.0.1:8080
# The corpus lives beside the checkout by default.
CORPUS ?= ../shared/corpus
CORPUS_TIMEOUT ?= 120
CORPUS_JOBS ?= 2

.PHONY: setup setup-tests build run test lint doctor schemathesis bench corpus

setup:
	scripts/setup.sh

setup-tests:
	scripts/setup.sh --for-tests

build: setup
	$(CARGO) build --release --locked

run: build
	./target/release/texjail doctor
	./target/release/texjail serve --listen $(LISTEN)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# Both binaries: `texjail` spawns `texjail-jail`, the jail's supervisor,
# from its own directory (`cargo run` would build only the first).
doctor:
	$(CARGO) build --quiet --locked --bins
	./target/debug/texjail doctor

# The service held to its OpenAPI document: schemathesis (pinned, from
# PyPI) runs every check and its stateful phase against a real server.
schemathesis: setup-tests
	scripts/schemathesis.sh

test: setup-tests lint doctor schemathesis
	$(CARGO) test --locked

# Every benchmark, each reporting ratios against a reference measured in
# the same run.
bench: setup-tests
	$(CARGO) bench --locked

# Converts every corpus project and every latexml-t document with `auto`
# and prints one table per folder with totals per status class.
corpus: build
	./target/release/texjail corpus --converter auto --timeout $(CORPUS_TIMEOUT) \
		--jobs $(CORPUS_JOBS) $(CORPUS)/projects $(CORPUS)/latexml-t
