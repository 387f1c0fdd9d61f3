/*
 * check: randomized correctness test of cfludkernels_avx2_gf_matmul,
 * cfludkernels_gfni_gf_matmul (each where the CPU has it) and the scalar
 * cfludkernels_scalar_gf_matmul against ISA-L's ec_encode_data.
 *
 *   cc -O2 -I Sources/CFludKernels/include perf/kernels/check.c Sources/CFludKernels/rs_avx2.c \
 *      Sources/CFludKernels/rs_gfni.c Sources/CFludKernels/cpu.c -lisal -o /tmp/kcheck
 *   /tmp/kcheck [cases] [seed]          # default 3000 random cases, seed 1
 *
 * Every case: random k and rows (k + rows <= 255, plus fixed extremes), a length
 * from {0, 1, 31, 32, 33, 63, 64, 65, ...} or random up to 70000, inputs and
 * outputs at random offsets +0..+63 from a 64-byte boundary (mostly +1..+63),
 * random coefficients with many 0s and 1s. Outputs are pre-filled with garbage
 * (overwrite, not accumulate) and surrounded by 64 guard bytes on each side
 * that must stay untouched; inputs must stay unchanged. A few large cases take
 * the software-prefetch paths and the GFNI kernel's streaming stores. Also checks ISA-L's table layout.
 * Prints "N passed, 0 failed" and exits 0 only when everything passed.
 */
#define _POSIX_C_SOURCE 200809L
#include <isa-l/erasure_code.h>

#include "CFludKernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 64
#define CANARY 0xA5

static uint64_t rng_state = 1;

static uint64_t next_random(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static unsigned below(unsigned n) { return (unsigned)(next_random() % n); }

static void fill_random(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)next_random();
}

/* Reference multiplication, bit by bit, polynomial 0x11D. */
static uint8_t slow_mul(uint8_t a, uint8_t b) {
    unsigned r = 0, x = a;
    while (b) {
        if (b & 1) r ^= x;
        x <<= 1;
        if (x & 0x100) x ^= 0x11D;
        b >>= 1;
    }
    return (uint8_t)r;
}

static long passed = 0, failed = 0;

static void fail(const char *what, int k, int rows, size_t len, const char *detail) {
    failed++;
    if (failed <= 20) fprintf(stderr, "FAIL %s: k=%d rows=%d len=%zu: %s\n", what, k, rows, len, detail);
}

/* ISA-L's expanded tables: 32 bytes per coefficient, (r, c) at 32 * (r * k + c),
 * bytes 0..15 = coef * 0x0i, bytes 16..31 = coef * 0xi0. */
static void check_layout(void) {
    const int k = 7, rows = 5;
    uint8_t coef[35], tables[35 * 32];
    for (int i = 0; i < k * rows; i++) coef[i] = (uint8_t)(i == 0 ? 0 : i == 1 ? 1 : next_random());
    ec_init_tables(k, rows, coef, tables);
    int bad = 0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < k; c++) {
            const uint8_t *t = tables + 32 * (r * k + c);
            uint8_t a = coef[r * k + c];
            for (int j = 0; j < 16; j++) {
                if (t[j] != slow_mul(a, (uint8_t)j)) bad++;
                if (t[16 + j] != slow_mul(a, (uint8_t)(j << 4))) bad++;
            }
        }
    if (bad) fail("table layout", k, rows, 0, "ec_init_tables layout differs from the documented one");
    else passed++;
}

typedef void (*matmul_fn)(size_t, int, int, const uint8_t *, const uint8_t *const *, uint8_t *const *);

/* One case. in_align / out_align: -1 = random offset (+1..+63 mostly, sometimes 0),
 * otherwise that offset from a 64-byte boundary for every buffer. */
static void run_case(const char *name, matmul_fn fn, int k, int rows, size_t len, int in_align,
                     int out_align) {
    uint8_t *coef = malloc((size_t)k * (size_t)rows);
    uint8_t *tables = malloc((size_t)32 * (size_t)k * (size_t)rows);
    uint8_t **in_mem = calloc((size_t)k, sizeof(uint8_t *));
    uint8_t **out_mem = calloc((size_t)rows, sizeof(uint8_t *));
    uint8_t **ref_mem = calloc((size_t)rows, sizeof(uint8_t *));
    uint8_t **in = calloc((size_t)k, sizeof(uint8_t *));
    uint8_t **out = calloc((size_t)rows, sizeof(uint8_t *));
    uint8_t **ref = calloc((size_t)rows, sizeof(uint8_t *));
    size_t *out_off = calloc((size_t)rows, sizeof(size_t));
    uint8_t *in_copy = malloc((size_t)k * len + 1);
    if (!coef || !tables || !in_mem || !out_mem || !ref_mem || !in || !out || !ref || !out_off || !in_copy) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    /* Coefficients: about 1 in 8 is 0, 1 in 8 is 1, the rest random. */
    for (int i = 0; i < k * rows; i++) {
        unsigned kind = below(8);
        coef[i] = kind == 0 ? 0 : kind == 1 ? 1 : (uint8_t)next_random();
    }
    ec_init_tables(k, rows, coef, tables);

    size_t span = len + 2 * GUARD + 64;
    for (int c = 0; c < k; c++) {
        if (posix_memalign((void **)&in_mem[c], 64, span) != 0) exit(2);
        size_t off = in_align >= 0 ? (size_t)in_align : (below(8) == 0 ? 0 : 1 + below(63));
        fill_random(in_mem[c], span);
        in[c] = in_mem[c] + GUARD + off;
        if (len) memcpy(in_copy + (size_t)c * len, in[c], len);
    }
    for (int r = 0; r < rows; r++) {
        if (posix_memalign((void **)&out_mem[r], 64, span) != 0) exit(2);
        if (posix_memalign((void **)&ref_mem[r], 64, len + 64) != 0) exit(2);
        out_off[r] = out_align >= 0 ? (size_t)out_align : (below(8) == 0 ? 0 : 1 + below(63));
        memset(out_mem[r], CANARY, span);
        out[r] = out_mem[r] + GUARD + out_off[r];
        fill_random(out[r], len); /* garbage that must be overwritten */
        ref[r] = ref_mem[r];
    }

    if (len) ec_encode_data((int)len, k, rows, tables, in, ref);
    fn(len, k, rows, tables, (const uint8_t *const *)in, (uint8_t *const *)out);

    char detail[200];
    int ok = 1;
    for (int r = 0; r < rows && ok; r++) {
        if (len && memcmp(out[r], ref[r], len) != 0) {
            size_t i = 0;
            while (out[r][i] == ref[r][i]) i++;
            snprintf(detail, sizeof detail, "output %d differs at byte %zu (got %02x want %02x), out offset %zu",
                     r, i, out[r][i], ref[r][i], out_off[r]);
            ok = 0;
            break;
        }
        const uint8_t *before = out_mem[r], *after = out[r] + len;
        size_t before_len = (size_t)(out[r] - out_mem[r]), after_len = span - before_len - len;
        for (size_t i = 0; i < before_len && ok; i++)
            if (before[i] != CANARY) {
                snprintf(detail, sizeof detail, "output %d: byte %zu before the buffer was written", r,
                         before_len - i);
                ok = 0;
            }
        for (size_t i = 0; i < after_len && ok; i++)
            if (after[i] != CANARY) {
                snprintf(detail, sizeof detail, "output %d: byte %zu after the buffer was written", r, i);
                ok = 0;
            }
    }
    for (int c = 0; c < k && ok; c++)
        if (len && memcmp(in_copy + (size_t)c * len, in[c], len) != 0) {
            snprintf(detail, sizeof detail, "input %d was modified", c);
            ok = 0;
        }
    /* A second call over the (now correct) outputs must give the same bytes:
     * overwrite, not accumulate (accumulating would give all zeros). */
    if (ok && len) {
        fn(len, k, rows, tables, (const uint8_t *const *)in, (uint8_t *const *)out);
        for (int r = 0; r < rows && ok; r++)
            if (memcmp(out[r], ref[r], len) != 0) {
                snprintf(detail, sizeof detail, "second call changed output %d (accumulates?)", r);
                ok = 0;
            }
    }
    if (ok) passed++;
    else fail(name, k, rows, len, detail);

    for (int c = 0; c < k; c++) free(in_mem[c]);
    for (int r = 0; r < rows; r++) {
        free(out_mem[r]);
        free(ref_mem[r]);
    }
    free(coef), free(tables), free(in_mem), free(out_mem), free(ref_mem);
    free(in), free(out), free(ref), free(out_off), free(in_copy);
}

static size_t random_len(void) {
    static const size_t fixed[] = {0, 1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 95, 96, 127, 128, 129, 4095, 4096, 4097};
    unsigned pick = below(4);
    if (pick == 0) return fixed[below(sizeof fixed / sizeof fixed[0])];
    if (pick == 1) return below(600);
    return below(70001);
}

static void random_shape(int *k, int *rows) {
    unsigned pick = below(4);
    if (pick == 0) { /* small codes */
        *k = 1 + (int)below(24);
        *rows = 1 + (int)below(24);
    } else if (pick == 1) { /* anything with k + rows <= 255 */
        *k = 1 + (int)below(254);
        *rows = 1 + (int)below((unsigned)(255 - *k));
    } else { /* row counts around the group boundaries */
        *k = 1 + (int)below(40);
        *rows = 1 + (int)below(40);
    }
}

/* The GFNI kernel takes its own tables: rebuild them from the coefficients that
 * ISA-L's tables hold (byte 1 of each is coef * 1). */
static void gfni_from_isal_tables(size_t len, int k, int rows, const uint8_t *tables,
                                  const uint8_t *const *in, uint8_t *const *out) {
    size_t count = (size_t)k * (size_t)rows;
    uint8_t *coef = malloc(count);
    uint64_t *matrices = malloc(count * sizeof *matrices);
    if (!coef || !matrices) exit(2);
    for (size_t i = 0; i < count; i++) coef[i] = tables[32 * i + 1];
    cfludkernels_gfni_tables(k, rows, coef, matrices);
    cfludkernels_gfni_gf_matmul(len, k, rows, matrices, in, out);
    free(coef), free(matrices);
}

/* Every shape class on one kernel. */
static void check_kernel(const char *name, matmul_fn kernel, long cases) {
    /* Fixed extremes, each at several lengths, random offsets. */
    static const int shapes[][2] = {{1, 1}, {1, 254}, {254, 1}, {20, 20}, {4, 2}, {10, 4}, {2, 253},
                                    {253, 2}, {127, 128}, {128, 127}, {11, 11}, {12, 13}, {21, 3}};
    static const size_t lens[] = {0, 1, 31, 32, 33, 63, 64, 65, 96, 127, 128, 129, 1000, 4097, 65536 + 7};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            run_case(name, kernel, shapes[s][0], shapes[s][1], lens[l], -1, -1);
    /* Every rows 1..40 for a few k (all group sizes and splits). */
    for (int rows = 1; rows <= 40; rows++)
        for (int k = 1; k <= 5; k += 2) run_case(name, kernel, k * 3, rows, 32 * 3 + 7, -1, -1);
    /* Beyond the brief's k + rows <= 255: the interface allows 255 x 255. */
    run_case(name, kernel, 255, 255, 777, -1, -1);
    /* Large calls (k * len >= 4 MiB): the software-prefetch paths, with one
     * group of rows, two groups, and the pre-split path (3+ groups). */
    run_case(name, kernel, 4, 2, (4u << 20) + 33, 5, 0);
    run_case(name, kernel, 10, 4, (2u << 20) + 1, -1, 32);
    run_case(name, kernel, 20, 20, (1u << 19) + 64, 0, 0);
    run_case(name, kernel, 9, 8, (1u << 19) + 96, -1, -1);
    run_case(name, kernel, 4, 2, (4u << 20) + 31, -1, -1);
    run_case(name, kernel, 6, 3, (3u << 20) + 17, -1, 7);
    run_case(name, kernel, 100, 30, (1u << 16) + 3, -1, -1);
    /* Very large calls (16 MiB of output and more) with aligned outputs: the
     * GFNI kernel's streaming stores, then its masked tail. */
    run_case(name, kernel, 4, 2, (8u << 20) + 77, -1, 0);
    run_case(name, kernel, 10, 4, (4u << 20) + 64, 3, 0);
    run_case(name, kernel, 3, 8, (2u << 20) + 1, -1, 0);
    for (long i = 0; i < cases; i++) {
        int k, rows;
        random_shape(&k, &rows);
        run_case(name, kernel, k, rows, random_len(), -1, -1);
    }
}

int main(int argc, char **argv) {
    long cases = argc > 1 ? atol(argv[1]) : 3000;
    rng_state = (argc > 2 ? (uint64_t)atoll(argv[2]) : 1) * 0x9E3779B97F4A7C15ULL | 1;
    check_layout();
    if (cfludkernels_cpu_has_avx2()) check_kernel("avx2", cfludkernels_avx2_gf_matmul, cases);
    else printf("note: no AVX2 on this CPU, the AVX2 kernel is not checked\n");
    if (cfludkernels_cpu_has_avx512_gfni()) check_kernel("gfni", gfni_from_isal_tables, cases);
    else printf("note: no AVX-512 with GFNI on this CPU, the GFNI kernel is not checked\n");
    /* The scalar path on its own (fewer, shorter cases: it is slow). */
    static const int scalar_shapes[][2] = {{1, 1}, {1, 254}, {254, 1}, {20, 20}, {4, 2}, {10, 4}, {12, 13}};
    for (size_t s = 0; s < sizeof scalar_shapes / sizeof scalar_shapes[0]; s++)
        run_case("scalar extreme", cfludkernels_scalar_gf_matmul, scalar_shapes[s][0], scalar_shapes[s][1], 33, -1, -1);
    for (long i = 0; i < cases / 10; i++) {
        int k, rows;
        random_shape(&k, &rows);
        run_case("scalar random", cfludkernels_scalar_gf_matmul, k, rows, below(3000), -1, -1);
    }
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
