# Developer entry points. The corpus lives beside the checkout by default
# (../shared/corpus); override with `make corpus CORPUS=/path/to/corpus`.

CORPUS ?= ../shared/corpus
CORPUS_TIMEOUT ?= 120
CORPUS_JOBS ?= 2
CARGO ?= cargo

.PHONY: corpus bench

# Converts every corpus project and every latexml-t document with `auto`
# and prints one table per folder with totals per status class.
corpus:
	$(CARGO) build
	./target/debug/texjail corpus --converter auto --timeout $(CORPUS_TIMEOUT) \
		--jobs $(CORPUS_JOBS) $(CORPUS)/projects $(CORPUS)/latexml-t

# Every benchmark, each reporting ratios against a reference measured in
# the same run.
bench:
	$(CARGO) bench --bench convert
	$(CARGO) bench --bench jail_startup
