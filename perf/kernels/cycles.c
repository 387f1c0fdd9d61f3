/*
 * cycles: compute-bound cost of ISA-L ec_encode_data vs cfludkernels_avx2_gf_matmul,
 * as TSC ticks per "coefficient-vector" (one coefficient applied to 32 bytes),
 * the minimum over many short calls on cache-resident data. The minimum filters
 * out most of the noise of a shared machine, which the median-based bench.c
 * cannot; use this to compare kernel variants, bench.c for end-to-end GB/s.
 *
 *   cc -O2 -I Sources/CFludKernels/include perf/kernels/cycles.c \
 *      Sources/CFludKernels/rs_avx2.c Sources/CFludKernels/cpu.c -lisal -o /tmp/kcycles
 *   /tmp/kcycles                    # a fixed set of shapes
 *   /tmp/kcycles K ROWS LEN [REPS]  # one shape
 *
 * The TSC runs at a fixed rate (2.445 GHz on the EPYC VM this was tuned on, whose
 * cores run at about 3.2 GHz), so only ratios between the two columns matter.
 */
#define _POSIX_C_SOURCE 200809L
#include <isa-l/erasure_code.h>

#include "CFludKernels.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

static void one(int k, int rows, size_t len, int reps) {
    size_t stride = (len + 63) / 64 * 64 + 3 * 64;
    unsigned char *memory = NULL;
    if (posix_memalign((void **)&memory, 64, (size_t)(k + rows) * stride) != 0) exit(1);
    memset(memory, 0, (size_t)(k + rows) * stride);
    unsigned char *shards[512];
    for (int i = 0; i < k + rows; i++) shards[i] = memory + (size_t)i * stride;
    uint64_t state = 88172645463325252ULL;
    for (int i = 0; i < k; i++)
        for (size_t j = 0; j < len; j++) {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17;
            shards[i][j] = (unsigned char)state;
        }
    unsigned char *matrix = malloc((size_t)(k + rows) * (size_t)k);
    unsigned char *tables = malloc((size_t)32 * (size_t)k * (size_t)rows);
    if (!matrix || !tables) exit(1);
    gf_gen_cauchy1_matrix(matrix, k + rows, k);
    ec_init_tables(k, rows, matrix + k * k, tables);

    uint64_t best[2] = {UINT64_MAX, UINT64_MAX};
    for (int r = 0; r < reps; r++)
        for (int w = 0; w < 2; w++) {
            uint64_t t0 = __rdtsc();
            if (w == 0) ec_encode_data((int)len, k, rows, tables, shards, shards + k);
            else cfludkernels_avx2_gf_matmul(len, k, rows, tables, (const uint8_t *const *)shards, shards + k);
            uint64_t t = __rdtsc() - t0;
            if (t < best[w]) best[w] = t;
        }
    double units = (double)k * (double)rows * (double)len / 32.0;
    printf("%3d x %-3d len %6zu: ISA-L %.3f  kernel %.3f  tsc/coef-vec  (ISA-L/kernel %.2fx)\n", k, rows, len,
           (double)best[0] / units, (double)best[1] / units, (double)best[0] / (double)best[1]);
    free(tables), free(matrix), free(memory);
}

int main(int argc, char **argv) {
    if (!cfludkernels_cpu_has_avx2()) {
        fprintf(stderr, "cycles: this CPU has no AVX2\n");
        return 1;
    }
    if (argc >= 4) {
        int k = atoi(argv[1]), rows = atoi(argv[2]);
        if (k < 1 || rows < 1 || k + rows > 510) return 2;
        one(k, rows, (size_t)atol(argv[3]), argc > 4 ? atoi(argv[4]) : 2000);
        return 0;
    }
    static const int shapes[][3] = {{4, 2, 8192},   {10, 4, 4096}, {20, 20, 2048}, {10, 1, 4096},
                                    {20, 1, 2048},  {12, 12, 2048}, {40, 40, 1024}, {100, 100, 512},
                                    {254, 1, 1024}, {1, 254, 1024}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) one(shapes[i][0], shapes[i][1], (size_t)shapes[i][2], 2000);
    return 0;
}
