/*
 * bench: ISA-L ec_encode_data vs one of flud's kernels (cfludkernels_avx2_gf_matmul,
 * cfludkernels_gfni_gf_matmul), single thread.
 *
 *   cc -O2 -I Sources/CFludKernels/include perf/kernels/bench.c Sources/CFludKernels/rs_avx2.c \
 *      Sources/CFludKernels/rs_gfni.c Sources/CFludKernels/cpu.c -lisal -o /tmp/kbench
 *   /tmp/kbench                          # (4,2) (10,4) (20,20) x 1 MiB, 64 MiB
 *   /tmp/kbench -k 10 -m 4 --size 1048576 --samples 15 --kernel avx2
 *
 * --kernel avx2|gfni picks the kernel (default: gfni where the CPU has AVX-512
 * and GFNI, else avx2); the GFNI kernel's matrices are built from the same
 * coefficients, outside the timing.
 *
 * For each code and size: encode (rows = m, parity rows of ISA-L's Cauchy
 * matrix gf_gen_cauchy1_matrix) and worst-case decode (rows = min(k, m): the
 * first min(k, m) data shards are lost, the first k surviving shards are the
 * sources, the lost rows of the inverted k x k submatrix are expanded with
 * ec_init_tables). Both implementations get the same tables and buffers.
 *
 * Methodology: shard length = ceil(bytes / k); one 64-byte-aligned allocation
 * for all k + m shards, stride = round_up(len, 64) if that is < 4096, else
 * round_up(len, 4096) + 7 * 64 (flud's StripeBuffer); xorshift64* data. One
 * warm-up call each, one timed probe call, calls per sample = max(1, 0.02 s /
 * probe); samples (default 11, 7..15) alternate ISA-L, kernel, ISA-L, kernel...
 * Each sample is CLOCK_MONOTONIC time of `calls` calls / calls; the figure is
 * the median sample, GB/s = k * len / seconds / 1e9 (data bytes). The kernel's
 * outputs are checked against ISA-L's (encode) and the originals (decode).
 */
#define _POSIX_C_SOURCE 200809L
#include <isa-l/erasure_code.h>

#include "CFludKernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../perf_common.h"

#define MAX_SAMPLES 15

struct call {
    size_t len;
    int k, rows;
    uint8_t *tables;
    uint8_t **inputs, **outputs;
    uint64_t *matrices; /* the GFNI kernel's tables */
};

static int use_gfni;

static void run(int which, const struct call *c) {
    if (which == 0) ec_encode_data((int)c->len, c->k, c->rows, c->tables, c->inputs, c->outputs);
    else if (use_gfni)
        cfludkernels_gfni_gf_matmul(c->len, c->k, c->rows, c->matrices, (const uint8_t *const *)c->inputs,
                                    (uint8_t *const *)c->outputs);
    else cfludkernels_avx2_gf_matmul(c->len, c->k, c->rows, c->tables, (const uint8_t *const *)c->inputs,
                                     (uint8_t *const *)c->outputs);
}

/* The GFNI matrices of the same coefficients (byte 1 of ISA-L's tables is coef * 1). */
static uint64_t *gfni_matrices(int k, int rows, const uint8_t *tables) {
    size_t count = (size_t)k * (size_t)rows;
    uint8_t *coef = malloc(count);
    uint64_t *matrices = malloc(count * sizeof *matrices + 8);
    if (!coef || !matrices) die("out of memory");
    for (size_t i = 0; i < count; i++) coef[i] = tables[32 * i + 1];
    cfludkernels_gfni_tables(k, rows, coef, matrices);
    free(coef);
    return matrices;
}

/* Median seconds per call of ISA-L (result[0]) and the kernel (result[1]), interleaved. */
static void measure(const struct call *c, int samples, double result[2]) {
    long calls[2];
    for (int w = 0; w < 2; w++) {
        run(w, c); /* warm-up */
        double t0 = monotonic_seconds();
        run(w, c);
        double once = monotonic_seconds() - t0;
        if (once < 1e-7) once = 1e-7;
        calls[w] = (long)(0.02 / once);
        if (calls[w] < 1) calls[w] = 1;
    }
    double per_call[2][MAX_SAMPLES];
    for (int s = 0; s < samples; s++)
        for (int w = 0; w < 2; w++) {
            double t0 = monotonic_seconds();
            for (long i = 0; i < calls[w]; i++) run(w, c);
            per_call[w][s] = (monotonic_seconds() - t0) / (double)calls[w];
        }
    for (int w = 0; w < 2; w++) {
        qsort(per_call[w], (size_t)samples, sizeof(double), compare_doubles);
        result[w] = per_call[w][samples / 2];
    }
}

static void print_row(const char *op, int k, int m, int rows, long bytes, size_t len, double gb, const double s[2]) {
    char size[32];
    if (bytes % (1L << 20) == 0) snprintf(size, sizeof size, "%ld MiB", bytes >> 20);
    else snprintf(size, sizeof size, "%ld B", bytes);
    double isal = gb / s[0], mine = gb / s[1];
    printf("| %-6s | %2d+%-2d | %4d | %-6s | %8zu | %10.2f | %11.2f | %5.2fx |\n", op, k, m, rows, size, len, isal,
           mine, mine / isal);
    fflush(stdout);
}

static void bench(int k, int m, long bytes, int samples) {
    int n = k + m;
    size_t len = ((size_t)bytes + (size_t)k - 1) / (size_t)k;
    size_t stride = shard_stride(len);
    uint8_t *memory = NULL;
    if (posix_memalign((void **)&memory, CACHE_LINE, stride * (size_t)n) != 0) die("out of memory");
    memset(memory, 0, stride * (size_t)n);
    uint8_t *shards[256];
    for (int i = 0; i < n; i++) shards[i] = memory + (size_t)i * stride;
    for (int i = 0; i < k; i++) fill_pseudo_random(shards[i], len, (uint64_t)(i + 1));
    double gb = (double)k * (double)len / 1e9;

    uint8_t *matrix = malloc((size_t)n * (size_t)k);
    uint8_t *encode_tables = NULL;
    if (!matrix || posix_memalign((void **)&encode_tables, CACHE_LINE, 32 * (size_t)k * (size_t)m + 64) != 0)
        die("out of memory");
    gf_gen_cauchy1_matrix(matrix, n, k);
    ec_init_tables(k, m, &matrix[k * k], encode_tables);

    /* Encode, and check the kernel against ISA-L. */
    uint8_t *expected = malloc((size_t)m * len + 1);
    if (!expected) die("out of memory");
    struct call encode = {len, k, m, encode_tables, shards, shards + k, gfni_matrices(k, m, encode_tables)};
    run(0, &encode);
    for (int i = 0; i < m; i++) memcpy(expected + (size_t)i * len, shards[k + i], len), memset(shards[k + i], 0, len);
    run(1, &encode);
    for (int i = 0; i < m; i++)
        if (memcmp(expected + (size_t)i * len, shards[k + i], len) != 0) die("kernel encode differs from ISA-L");
    double s[2];
    measure(&encode, samples, s);
    print_row("encode", k, m, m, bytes, len, gb, s);

    /* Worst-case decode: lose the first min(k, m) data shards. */
    int lost = k < m ? k : m;
    uint8_t *sources[256], *targets[256];
    static uint8_t submatrix[256 * 256], inverse[256 * 256];
    for (int r = 0; r < k; r++) {
        sources[r] = shards[lost + r];
        memcpy(&submatrix[r * k], &matrix[(lost + r) * k], (size_t)k);
    }
    if (gf_invert_matrix(submatrix, inverse, k) != 0) die("source rows are singular");
    uint8_t *decode_tables = NULL;
    if (posix_memalign((void **)&decode_tables, CACHE_LINE, 32 * (size_t)k * (size_t)lost + 64) != 0)
        die("out of memory");
    ec_init_tables(k, lost, inverse, decode_tables);
    for (int i = 0; i < lost; i++) targets[i] = shards[i];
    uint8_t *original = malloc((size_t)lost * len + 1);
    if (!original) die("out of memory");
    for (int i = 0; i < lost; i++) memcpy(original + (size_t)i * len, shards[i], len), memset(shards[i], 0, len);
    struct call decode = {len, k, lost, decode_tables, sources, targets, gfni_matrices(k, lost, decode_tables)};
    run(1, &decode);
    for (int i = 0; i < lost; i++)
        if (memcmp(original + (size_t)i * len, shards[i], len) != 0) die("kernel decode is wrong");
    measure(&decode, samples, s);
    for (int i = 0; i < lost; i++)
        if (memcmp(original + (size_t)i * len, shards[i], len) != 0) die("decode is wrong after timing");
    print_row("decode", k, m, lost, bytes, len, gb, s);

    free(encode.matrices), free(decode.matrices);
    free(original), free(decode_tables), free(expected), free(encode_tables), free(matrix), free(memory);
}

static void usage(void) {
    fprintf(stderr, "usage: bench [-k K -m M] [--size BYTES] [--samples 7..15] [--kernel avx2|gfni]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int k = 0, m = 0, samples = 11;
    long size = -1;
    use_gfni = cfludkernels_cpu_has_avx512_gfni();
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) usage();
        if (strcmp(argv[i], "-k") == 0) k = (int)parse_number(argv[++i]);
        else if (strcmp(argv[i], "-m") == 0) m = (int)parse_number(argv[++i]);
        else if (strcmp(argv[i], "--size") == 0) size = parse_number(argv[++i]);
        else if (strcmp(argv[i], "--samples") == 0) samples = (int)parse_number(argv[++i]);
        else if (strcmp(argv[i], "--kernel") == 0) {
            const char *name = argv[++i];
            if (strcmp(name, "gfni") == 0) use_gfni = 1;
            else if (strcmp(name, "avx2") == 0) use_gfni = 0;
            else usage();
        }
        else usage();
    }
    if ((k == 0) != (m == 0)) die("-k and -m go together");
    if (k != 0 && (k < 1 || m < 1 || k + m > 255)) die("k and m must be at least 1 and k + m at most 255");
    if (size != -1 && (size < 1 || size > (1L << 30))) die("--size must be between 1 byte and 1 GiB");
    if (samples < 7 || samples > MAX_SAMPLES) die("--samples must be between 7 and 15");
    if (!cfludkernels_cpu_has_avx2()) die("this CPU has no AVX2");
    if (use_gfni && !cfludkernels_cpu_has_avx512_gfni()) die("this CPU has no AVX-512 with GFNI");
    printf("kernel: %s\n", use_gfni ? "gfni" : "avx2");

    printf("| op     | code  | rows | data   | shard B  | ISA-L GB/s | kernel GB/s | ratio  |\n");
    printf("|--------|-------|------|--------|----------|------------|-------------|--------|\n");
    const int codes[][2] = {{4, 2}, {10, 4}, {20, 20}};
    const long sizes[] = {1L << 20, 64L << 20};
    for (int c = 0; c < 3; c++) {
        int ck = k ? k : codes[c][0], cm = k ? m : codes[c][1];
        for (int s = 0; s < 2; s++) {
            bench(ck, cm, size > 0 ? size : sizes[s], samples);
            if (size > 0) break;
        }
        if (k) break;
    }
    return 0;
}
