# The two commands of the README's quick start, and the pieces they use.
#   make run   set up, build, start the service
#   make test  set up, then fmt, clippy, doctor and the whole test suite
CARGO ?= cargo
LISTEN ?= 127.0.0.1:8080

.PHONY: setup setup-tests build run test lint doctor bench corpus

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

doctor:
	$(CARGO) run --quiet --locked -- doctor

test: setup-tests lint doctor
	$(CARGO) test --locked

bench: setup-tests
	$(CARGO) bench --locked
