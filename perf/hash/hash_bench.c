// Hash throughput of the candidates for flud's content hash, single thread:
// SHA-256 (OpenSSL; SHA-NI where the CPU has it, as swift-crypto's
// BoringSSL), BLAKE3 (the official C implementation, compiled by
// run-hash.sh from Debian's librust-blake3-dev) and BLAKE2 (Debian's libb2).
//
// One JSON object per line:
//   {"hash":"blake3","bytes":52429,"gbps":2.52}
// Sizes: a fragment of a 1 MiB chunk at k = 20 (52,429 bytes) and a whole
// 1 MiB chunk. Best of three passes of ~1 GB each.
#include <blake2.h>
#include <blake3.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void hash_blake3(const uint8_t *in, size_t n, uint8_t *out) {
    blake3_hasher hasher;
    blake3_hasher_init(&hasher);
    blake3_hasher_update(&hasher, in, n);
    blake3_hasher_finalize(&hasher, out, 32);
}
static void hash_sha256(const uint8_t *in, size_t n, uint8_t *out) { SHA256(in, n, out); }
static void hash_blake2b(const uint8_t *in, size_t n, uint8_t *out) { blake2b(out, in, NULL, 32, n, 0); }
static void hash_blake2bp(const uint8_t *in, size_t n, uint8_t *out) { blake2bp(out, in, NULL, 32, n, 0); }
static void hash_blake2sp(const uint8_t *in, size_t n, uint8_t *out) { blake2sp(out, in, NULL, 32, n, 0); }

static const struct {
    const char *name;
    void (*run)(const uint8_t *, size_t, uint8_t *);
} hashes[] = {
    {"sha256", hash_sha256}, {"blake3", hash_blake3},
    {"blake2b", hash_blake2b}, {"blake2bp", hash_blake2bp}, {"blake2sp", hash_blake2sp},
};

int main(void) {
    const size_t sizes[] = {52429, 1 << 20};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        long calls = (long)(1e9 / n);
        uint8_t *input = malloc(n), digest[32] = {0};
        if (!input) return 1;
        uint64_t state = 0x9E3779B97F4A7C15u;
        for (size_t i = 0; i < n; i++) {
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
            input[i] = (uint8_t)((state * 0x2545F4914F6CDD1Du) >> 56);
        }
        for (size_t h = 0; h < sizeof hashes / sizeof *hashes; h++) {
            double best = 1e9;
            for (int pass = 0; pass < 3; pass++) {
                double start = seconds();
                // Each digest feeds the next input, so no call can be skipped.
                for (long i = 0; i < calls; i++) { hashes[h].run(input, n, digest); input[0] ^= digest[0]; }
                double elapsed = seconds() - start;
                if (elapsed < best) best = elapsed;
            }
            printf("{\"hash\":\"%s\",\"bytes\":%zu,\"gbps\":%.2f}\n", hashes[h].name, n, (double)n * calls / best / 1e9);
        }
        free(input);
    }
    return 0;
}
