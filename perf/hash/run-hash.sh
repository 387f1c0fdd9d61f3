#!/usr/bin/env bash
# Single-thread throughput of SHA-256 (OpenSSL), BLAKE3 and BLAKE2 on this
# machine: the measurement behind perf/backup/README.md's estimate of what a
# faster content hash would give the backup pipeline.
#
#   perf/hash/run-hash.sh        # from the repository root
#
# BLAKE3: Debian 12 ships no BLAKE3 library, but its librust-blake3-dev holds
# the official C implementation (with the SSE2/SSE4.1/AVX2/AVX-512 assembly);
# it is compiled here, from /usr/share/cargo, into perf/out/hash_bench. BLAKE2:
# Debian's libb2. Nothing of either is copied into this repository.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"
scripts/apt-ensure.sh librust-blake3-dev libb2-dev libssl-dev
blake3="$(dpkg -L librust-blake3-dev | grep '/c/blake3\.h$' | head -1 | xargs dirname)"
[[ -d "$blake3" ]] || { echo "run-hash: BLAKE3's C sources not found in librust-blake3-dev" >&2; exit 1; }
mkdir -p perf/out
"${CC:-cc}" -O3 -Wall -I"$blake3" -o perf/out/hash_bench perf/hash/hash_bench.c \
    "$blake3"/blake3.c "$blake3"/blake3_dispatch.c "$blake3"/blake3_portable.c \
    "$blake3"/blake3_sse2_x86-64_unix.S "$blake3"/blake3_sse41_x86-64_unix.S \
    "$blake3"/blake3_avx2_x86-64_unix.S "$blake3"/blake3_avx512_x86-64_unix.S \
    -lb2 -lcrypto
perf/out/hash_bench | tee perf/out/hash.jsonl
