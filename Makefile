# flud — `make demo` and `make test` are all a fresh Debian 12 machine with Swift needs.

SWIFT        ?= swift
# System packages the build and the tests need; installed only when missing.
APT_PACKAGES := pkg-config libisal-dev libsodium-dev liblmdb-dev libzstd-dev python3-libtorrent iproute2 nftables
# Only for perf/ comparisons, never needed to build or test.
PERF_PACKAGES := golang-go golang-github-klauspost-reedsolomon-dev hyperfine

.PHONY: all deps build release test test-release kernel-check benchmark-gates demo perf perf-deps fuzz clean

FUZZ_SECONDS ?= 600

all: build

# Installs whichever of $(APT_PACKAGES) are missing, and BLAKE3's C library
# (built from Debian's sources) if it is not in /usr/local; touches nothing otherwise.
deps:
	@scripts/apt-ensure.sh $(APT_PACKAGES)
	@scripts/install-blake3.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Unit, property and command-line tests, then the deterministic benchmark gates
# (allocation counts: zero mallocs per encode call).
# Serially: several suites run storage nodes inside the test process, and others
# wait on child processes; run side by side on 2 cores they starve each other's
# share of Swift's cooperative thread pool and time out.
test: deps
	scripts/check-async-tuples.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel
	$(MAKE) kernel-check
	$(MAKE) benchmark-gates

# The same suites against an optimised build, as users run flud: Swift 6.3's
# optimizer has broken code that the debug build ran right (see
# scripts/check-async-tuples.sh). A build directory of its own, since
# -enable-testing changes every flag of the release build.
test-release: deps
	$(SWIFT) build -c release -Xswiftc -enable-testing --build-tests --scratch-path .build-release-tests
	$(SWIFT) test -c release -Xswiftc -enable-testing --scratch-path .build-release-tests --skip-build --no-parallel

# flud's SIMD kernels optimised (-O2, as release builds compile them) against
# ISA-L on random shapes, lengths and alignments: the Swift tests run a debug
# build, whose kernels are compiled at -O0.
kernel-check: deps
	mkdir -p .build
	$(CC) -O2 -I Sources/CFludKernels/include perf/kernels/check.c Sources/CFludKernels/rs_avx2.c \
		Sources/CFludKernels/rs_gfni.c Sources/CFludKernels/cpu.c -lisal -o .build/kernel-check
	.build/kernel-check 1000

benchmark-gates: deps
	cd Benchmarks && $(SWIFT) package benchmark thresholds check --path Thresholds \
		--filter '(en|de)code_.*' --no-progress

demo: release
	scripts/demo.sh .build/release/flud

perf-deps: deps
	@scripts/apt-ensure.sh $(PERF_PACKAGES)

# flud vs raw ISA-L C (and klauspost/reedsolomon), then flud's store vs raw
# LMDB, each interleaved in one run.
perf: release perf-deps
	perf/run-codec.sh
	perf/store/run-store.sh

# libFuzzer over the DHT's bencode/KRPC parsers (a fresh corpus copy each run).
fuzz: deps
	cd Fuzz && $(SWIFT) build --sanitize=fuzzer
	rm -rf Fuzz/.corpus && cp -r Fuzz/Corpus/KRPC Fuzz/.corpus
	Fuzz/.build/debug/FludFuzzKRPC -max_total_time=$(FUZZ_SECONDS) -max_len=2048 Fuzz/.corpus
	rm -rf Fuzz/.corpus-wire && cp -r Fuzz/Corpus/Wire Fuzz/.corpus-wire
	Fuzz/.build/debug/FludFuzzWire -max_total_time=$(FUZZ_SECONDS) -max_len=4096 Fuzz/.corpus-wire

clean:
	rm -rf .build .build-release-tests Benchmarks/.build Fuzz/.build Fuzz/.corpus Fuzz/.corpus-wire perf/out
