/*
 * isal_codec_bench: Reed-Solomon encode and worst-case decode throughput of
 * raw Intel ISA-L, measured exactly the way `flud bench codec` measures flud,
 * so the two can be compared call for call.
 *
 *   cc -O2 -o perf/out/isal_codec_bench perf/isal_codec_bench.c -lisal
 *   perf/out/isal_codec_bench                      # (4,2) (10,4) (20,20) x 1 MiB, 64 MiB
 *   perf/out/isal_codec_bench -k 10 -m 4 --size 1048576
 *
 * Prints one JSON object per line, in the format of `flud bench codec --json`:
 *   {"op":"encode","k":4,"m":2,"bytes":1048576,"kernel":"isal-c","default":false,"gbps":25.10}
 *
 * Methodology (mirrors flud's CodecBenchmark and StripeBuffer):
 *   - shard length = ceil(bytes / k), no rounding;
 *   - one 64-byte-aligned allocation holds all k + m shards; the shard stride is
 *     round_up(len, 64) when that is below 4096, else round_up(len, 4096) + 7 * 64;
 *   - data shards hold xorshift64* bytes (same generator and seeds as flud);
 *   - encode: ec_encode_data with tables from ec_init_tables over the parity rows
 *     of gf_gen_cauchy1_matrix(k + m, k);
 *   - decode: the first min(k, m) data shards are lost; the sources are the first
 *     k remaining shards in index order; the k x k submatrix of their rows is
 *     inverted with gf_invert_matrix and rows 0 .. lost-1 of the inverse are
 *     expanded with ec_init_tables; ec_encode_data rebuilds the lost shards;
 *   - tables are built once, outside the timing;
 *   - timing: one warm-up call, one probe call (`once`), then
 *     calls = max(1, int(0.02 / once)) per sample and
 *     samples = min(21, max(5, int(0.6 / (once * calls)))); each sample is the
 *     CLOCK_MONOTONIC time of `calls` calls divided by `calls`; the result is the
 *     median sample (sorted[samples / 2]); GB/s = k * len / seconds / 1e9;
 *   - after decoding, the rebuilt shards must equal the originals (abort if not).
 */
#define _POSIX_C_SOURCE 200809L
#include <isa-l/erasure_code.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "perf_common.h"

struct call {
    int len, sources, outputs;
    unsigned char *tables;
    unsigned char **inputs;
    unsigned char **targets;
};

static void run_call(const struct call *c) {
    ec_encode_data(c->len, c->sources, c->outputs, c->tables, c->inputs, c->targets);
}

/* Median seconds per call, with flud's sampling rule. */
static double median_seconds(const struct call *c) {
    run_call(c); /* warm-up: faults in pages, warms caches */
    double start = monotonic_seconds();
    run_call(c);
    double once = monotonic_seconds() - start;
    if (once < 1e-7) once = 1e-7;
    long calls = (long)(0.02 / once);
    if (calls < 1) calls = 1;
    long samples = (long)(0.6 / (once * (double)calls));
    if (samples < 5) samples = 5;
    if (samples > 21) samples = 21;
    double per_call[21];
    for (long s = 0; s < samples; s++) {
        double t0 = monotonic_seconds();
        for (long i = 0; i < calls; i++) run_call(c);
        per_call[s] = (monotonic_seconds() - t0) / (double)calls;
    }
    qsort(per_call, (size_t)samples, sizeof(double), compare_doubles);
    return per_call[samples / 2];
}

static void print_line(const char *op, int k, int m, long bytes, double gbps) {
    printf("{\"op\":\"%s\",\"k\":%d,\"m\":%d,\"bytes\":%ld,\"kernel\":\"isal-c\",\"default\":false,\"gbps\":%.2f}\n",
           op, k, m, bytes, gbps);
    fflush(stdout);
}

static void bench(int k, int m, long bytes) {
    int n = k + m;
    size_t len = ((size_t)bytes + (size_t)k - 1) / (size_t)k;
    size_t stride = shard_stride(len);
    unsigned char *memory = NULL;
    if (posix_memalign((void **)&memory, CACHE_LINE, stride * (size_t)n) != 0) die("out of memory");
    memset(memory, 0, stride * (size_t)n);
    unsigned char *shards[256];
    for (int i = 0; i < n; i++) shards[i] = memory + (size_t)i * stride;
    for (int i = 0; i < k; i++) fill_pseudo_random(shards[i], len, (uint64_t)(i + 1));

    /* Encoding: parity rows of the (k + m) x k Cauchy matrix. */
    unsigned char *matrix = malloc((size_t)n * (size_t)k);
    unsigned char *encode_tables = NULL;
    if (!matrix || posix_memalign((void **)&encode_tables, CACHE_LINE, 32 * (size_t)k * (size_t)m + 64) != 0)
        die("out of memory");
    gf_gen_cauchy1_matrix(matrix, n, k);
    ec_init_tables(k, m, &matrix[k * k], encode_tables);

    struct call encode = {(int)len, k, m, encode_tables, shards, shards + k};
    double encode_seconds = median_seconds(&encode);

    /* Worst-case decode: lose the first min(k, m) data shards. */
    int lost = k < m ? k : m;
    unsigned char *sources[256], *targets[256];
    unsigned char submatrix[256 * 256], inverse[256 * 256];
    for (int r = 0; r < k; r++) {
        int row = lost + r; /* first k present shards in index order */
        sources[r] = shards[row];
        memcpy(&submatrix[r * k], &matrix[row * k], (size_t)k);
    }
    if (gf_invert_matrix(submatrix, inverse, k) != 0) die("source rows are singular");
    unsigned char *decode_tables = NULL;
    if (posix_memalign((void **)&decode_tables, CACHE_LINE, 32 * (size_t)k * (size_t)lost + 64) != 0)
        die("out of memory");
    ec_init_tables(k, lost, inverse, decode_tables); /* rows 0 .. lost-1 of the inverse */
    for (int i = 0; i < lost; i++) targets[i] = shards[i];

    /* Keep the originals, then wipe the lost shards so a no-op decode cannot pass. */
    unsigned char *original = malloc((size_t)lost * len + 1);
    if (!original) die("out of memory");
    for (int i = 0; i < lost; i++) {
        memcpy(original + (size_t)i * len, shards[i], len);
        memset(shards[i], 0, len);
    }

    struct call decode = {(int)len, k, lost, decode_tables, sources, targets};
    double decode_seconds = median_seconds(&decode);
    for (int i = 0; i < lost; i++) {
        if (memcmp(original + (size_t)i * len, shards[i], len) != 0) {
            fprintf(stderr, "isal_codec_bench: decode produced wrong data for %d+%d (shard %d)\n", k, m, i);
            exit(1);
        }
    }

    double processed = (double)k * (double)len;
    print_line("encode", k, m, bytes, processed / encode_seconds / 1e9);
    print_line("decode", k, m, bytes, processed / decode_seconds / 1e9);

    free(original);
    free(decode_tables);
    free(encode_tables);
    free(matrix);
    free(memory);
}

static void usage(void) {
    fprintf(stderr, "usage: isal_codec_bench [-k K -m M] [--size BYTES]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int k = 0, m = 0;
    long size = -1; /* -1: both default sizes */
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "-k") == 0) k = (int)parse_number(argv[++i]);
        else if (strcmp(argv[i], "-m") == 0) m = (int)parse_number(argv[++i]);
        else if (strcmp(argv[i], "--size") == 0) size = parse_number(argv[++i]);
        else usage();
    }
    if ((k == 0) != (m == 0)) die("-k and -m go together");
    if (k != 0 && (k < 1 || m < 1 || k + m > 255)) die("k and m must be at least 1 and k + m at most 255");
    if (size != -1 && (size < 1 || size > (1L << 30))) die("--size must be between 1 byte and 1 GiB");

    const int codes[][2] = {{4, 2}, {10, 4}, {20, 20}};
    const long sizes[] = {1L << 20, 64L << 20};
    for (int c = 0; c < 3; c++) {
        int ck = k ? k : codes[c][0], cm = k ? m : codes[c][1];
        for (int s = 0; s < 2; s++) {
            bench(ck, cm, size > 0 ? size : sizes[s]);
            if (size > 0) break;
        }
        if (k) break;
    }
    return 0;
}
