// GF(2^8) matrix multiply (Reed-Solomon encode / decode) with AVX2.
//
//   out[r][i] = XOR over c of coef[r][c] * in[c][i]     (polynomial 0x11D)
//
// The coefficients are read from ISA-L's expanded tables (ec_init_tables):
// 32 bytes per coefficient, coefficient (r, c) at 32 * (r * k + c); bytes
// 0..15 hold coef * 0x00..0x0F, bytes 16..31 hold coef * 0x00, 0x10, .., 0xF0.
// A product is then lo[x & 15] ^ hi[x >> 4], which vpshufb computes for 32
// bytes at a time.
//
// Design (see perf/kernels/README.md for the measurements behind it):
//   - Output groups: up to GROUP_MAX outputs are accumulated in ymm registers
//     while the k inputs are walked once; the nibble split of each 32-byte input
//     vector (one load, one shift, two ands) is shared by the whole group, and
//     each output is stored exactly once.  Per coefficient and 32 bytes the cost
//     is two table broadcasts (pure loads), two vpshufb and two vpxor.
//   - Column blocks: the rows are split into groups of (nearly) equal size, and
//     each group sweeps the same block of `block` bytes of every input before
//     the next group starts, so the k * block input bytes are read from memory
//     once and then come from L1 for the other groups (ISA-L instead re-reads
//     the whole inputs for every 6 outputs).
//   - Large calls: the next block of every input is prefetched while the first
//     group works on the current one, and when all outputs are 32-byte aligned
//     and the outputs are large, they are written with non-temporal stores (no
//     read-for-ownership traffic, no eviction of the inputs).
//   - Tail: a final, overlapping 32-byte vector at len - 32 (outputs are
//     overwritten, so recomputing a few bytes is harmless); calls with len < 32
//     use the scalar path, with the same tables.
//
// No heap allocation, no global state: the function is reentrant and thread-safe.

#include "CFludKernels.h"

#include <string.h>

// ---------------------------------------------------------------------------
// Portable scalar path (also used for len < 32).

void cfludkernels_scalar_gf_matmul(size_t len, int k, int rows, const uint8_t *tables,
                                   const uint8_t *const *inputs, uint8_t *const *outputs) {
    if (len == 0 || k <= 0 || rows <= 0) return;
    for (int r = 0; r < rows; r++) {
        uint8_t *out = outputs[r];
        const uint8_t *row_tables = tables + (size_t)32 * (size_t)r * (size_t)k;
        {
            const uint8_t *t = row_tables;
            const uint8_t *in = inputs[0];
            for (size_t i = 0; i < len; i++) out[i] = (uint8_t)(t[in[i] & 15] ^ t[16 + (in[i] >> 4)]);
        }
        for (int c = 1; c < k; c++) {
            const uint8_t *t = row_tables + (size_t)32 * (size_t)c;
            const uint8_t *in = inputs[c];
            for (size_t i = 0; i < len; i++) out[i] ^= (uint8_t)(t[in[i] & 15] ^ t[16 + (in[i] >> 4)]);
        }
    }
}

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

// Most outputs kept in registers at once: GROUP_MAX accumulators + mask + the
// two nibble vectors + two temporaries = 15 of the 16 ymm registers.
#ifndef CFLUD_GROUP_MAX
#define CFLUD_GROUP_MAX 10
#endif
// Bytes of every input that one column block covers: about L1_BUDGET / k.
#ifndef CFLUD_L1_BUDGET
#define CFLUD_L1_BUDGET (16 * 1024)
#endif
#ifndef CFLUD_BLOCK_MIN
#define CFLUD_BLOCK_MIN 512
#endif
#ifndef CFLUD_BLOCK_MAX
#define CFLUD_BLOCK_MAX (8 * 1024)
#endif
// Non-temporal stores when rows * len is at least this many bytes.
#ifndef CFLUD_NT_THRESHOLD
#define CFLUD_NT_THRESHOLD ((size_t)8 << 20)
#endif
// Software prefetch of the next block when k * len is at least this many bytes.
#ifndef CFLUD_PREFETCH_THRESHOLD
#define CFLUD_PREFETCH_THRESHOLD ((size_t)2 << 20)
#endif

#define CFLUD_AVX2 __attribute__((target("avx2")))
#define CFLUD_INLINE static inline __attribute__((always_inline))

CFLUD_INLINE CFLUD_AVX2 __m256i cflud_bcast(const uint8_t *p) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p));
}

CFLUD_INLINE CFLUD_AVX2 __m256i cflud_product(const uint8_t *t, __m256i lo, __m256i hi) {
    return _mm256_xor_si256(_mm256_shuffle_epi8(cflud_bcast(t), lo),
                            _mm256_shuffle_epi8(cflud_bcast(t + 16), hi));
}

// One group of G outputs (G a compile-time constant after inlining) over the
// 32-byte vectors at offsets [begin, end) (end - begin a multiple of 32).
// tab points at the tables of (first row of the group, input 0); stride is
// 32 * k, the distance between the tables of consecutive rows.
// prefetch: distance in bytes to prefetch every input ahead (0 = none).
// nt: stream the outputs (outputs must be 32-byte aligned at begin).
#define CFLUD_ACC_INIT(j) \
    if (G > j) acc##j = cflud_product(t + (j) * stride, lo, hi);
#define CFLUD_ACC_STEP(j) \
    if (G > j) acc##j = _mm256_xor_si256(acc##j, cflud_product(t + (j) * stride, lo, hi));
#define CFLUD_ACC_STORE(j)                                                          \
    if (G > j) {                                                                    \
        if (nt) _mm256_stream_si256((__m256i *)(void *)(out[j] + i), acc##j);      \
        else _mm256_storeu_si256((__m256i *)(void *)(out[j] + i), acc##j);         \
    }
#define CFLUD_ALL(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

CFLUD_INLINE CFLUD_AVX2 void cflud_group(const int G, const int nt, size_t begin, size_t end, int k,
                                         const uint8_t *tab, size_t stride,
                                         const uint8_t *const *in, uint8_t *const *out,
                                         size_t prefetch) {
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0, acc4 = acc0,
            acc5 = acc0, acc6 = acc0, acc7 = acc0, acc8 = acc0, acc9 = acc0, acc10 = acc0,
            acc11 = acc0;
    for (size_t i = begin; i < end; i += 32) {
        const uint8_t *t = tab;
        {
            const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(in[0] + i));
            if (prefetch && (i & 63) == 0) _mm_prefetch((const char *)(in[0] + i + prefetch), _MM_HINT_T0);
            const __m256i lo = _mm256_and_si256(x, mask);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
            CFLUD_ALL(CFLUD_ACC_INIT)
        }
        for (int c = 1; c < k; c++) {
            t += 32;
            const uint8_t *p = in[c] + i;
            const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)p);
            if (prefetch && (i & 63) == 0) _mm_prefetch((const char *)(p + prefetch), _MM_HINT_T0);
            const __m256i lo = _mm256_and_si256(x, mask);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
            CFLUD_ALL(CFLUD_ACC_STEP)
        }
        CFLUD_ALL(CFLUD_ACC_STORE)
    }
}

// Instantiate the group kernel for every G and both store kinds.
#define CFLUD_DEFINE_GROUP(g)                                                                   \
    static CFLUD_AVX2 void cflud_group_##g(size_t begin, size_t end, int k, const uint8_t *tab, \
                                           size_t stride, const uint8_t *const *in,             \
                                           uint8_t *const *out, size_t prefetch) {              \
        cflud_group(g, 0, begin, end, k, tab, stride, in, out, prefetch);                       \
    }                                                                                           \
    static CFLUD_AVX2 void cflud_group_nt_##g(size_t begin, size_t end, int k,                  \
                                              const uint8_t *tab, size_t stride,                \
                                              const uint8_t *const *in, uint8_t *const *out,    \
                                              size_t prefetch) {                                \
        cflud_group(g, 1, begin, end, k, tab, stride, in, out, prefetch);                       \
    }
CFLUD_DEFINE_GROUP(1)
CFLUD_DEFINE_GROUP(2)
CFLUD_DEFINE_GROUP(3)
CFLUD_DEFINE_GROUP(4)
CFLUD_DEFINE_GROUP(5)
CFLUD_DEFINE_GROUP(6)
CFLUD_DEFINE_GROUP(7)
CFLUD_DEFINE_GROUP(8)
#if CFLUD_GROUP_MAX >= 9
CFLUD_DEFINE_GROUP(9)
#endif
#if CFLUD_GROUP_MAX >= 10
CFLUD_DEFINE_GROUP(10)
#endif
#if CFLUD_GROUP_MAX >= 11
CFLUD_DEFINE_GROUP(11)
#endif
#if CFLUD_GROUP_MAX >= 12
CFLUD_DEFINE_GROUP(12)
#endif

typedef void (*cflud_group_fn)(size_t, size_t, int, const uint8_t *, size_t, const uint8_t *const *,
                               uint8_t *const *, size_t);

static const cflud_group_fn cflud_groups[2][CFLUD_GROUP_MAX + 1] = {
    {NULL, cflud_group_1, cflud_group_2, cflud_group_3, cflud_group_4, cflud_group_5, cflud_group_6,
     cflud_group_7, cflud_group_8,
#if CFLUD_GROUP_MAX >= 9
     cflud_group_9,
#endif
#if CFLUD_GROUP_MAX >= 10
     cflud_group_10,
#endif
#if CFLUD_GROUP_MAX >= 11
     cflud_group_11,
#endif
#if CFLUD_GROUP_MAX >= 12
     cflud_group_12,
#endif
    },
    {NULL, cflud_group_nt_1, cflud_group_nt_2, cflud_group_nt_3, cflud_group_nt_4, cflud_group_nt_5,
     cflud_group_nt_6, cflud_group_nt_7, cflud_group_nt_8,
#if CFLUD_GROUP_MAX >= 9
     cflud_group_nt_9,
#endif
#if CFLUD_GROUP_MAX >= 10
     cflud_group_nt_10,
#endif
#if CFLUD_GROUP_MAX >= 11
     cflud_group_nt_11,
#endif
#if CFLUD_GROUP_MAX >= 12
     cflud_group_nt_12,
#endif
    },
};

__attribute__((target("avx2")))
void cfludkernels_avx2_gf_matmul(size_t len, int k, int rows, const uint8_t *tables,
                                 const uint8_t *const *inputs, uint8_t *const *outputs) {
    if (len == 0 || k <= 0 || rows <= 0) return;
    if (len < 32) {
        cfludkernels_scalar_gf_matmul(len, k, rows, tables, inputs, outputs);
        return;
    }
    const size_t stride = (size_t)32 * (size_t)k;

    // Split the rows into the fewest groups, of nearly equal size.
    const int groups = (rows + CFLUD_GROUP_MAX - 1) / CFLUD_GROUP_MAX;
    const int small = rows / groups;     // size of the first groups
    const int large_count = rows % groups; // the last large_count groups have small + 1 rows

    // Column block: about CFLUD_L1_BUDGET bytes of input in total, a multiple of 64.
    size_t block = (size_t)CFLUD_L1_BUDGET / (size_t)k;
    if (block < CFLUD_BLOCK_MIN) block = CFLUD_BLOCK_MIN;
    if (block > CFLUD_BLOCK_MAX) block = CFLUD_BLOCK_MAX;
    block &= ~(size_t)63;

    const size_t body = len & ~(size_t)31; // whole vectors
    int nt = (size_t)rows * len >= CFLUD_NT_THRESHOLD;
    for (int r = 0; nt && r < rows; r++)
        if (((uintptr_t)outputs[r] & 31) != 0) nt = 0;
    const size_t prefetch = (size_t)k * len >= CFLUD_PREFETCH_THRESHOLD ? block : 0;

    for (size_t begin = 0; begin < body; begin += block) {
        size_t end = begin + block < body ? begin + block : body;
        // Don't prefetch past the end of the inputs.
        const size_t pf = end + block <= body ? prefetch : 0;
        int r = 0;
        for (int g = 0; g < groups; g++) {
            const int size = small + (g >= groups - large_count);
            cflud_groups[nt][size](begin, end, k, tables + (size_t)r * stride, stride, inputs,
                                   outputs + r, g == 0 ? pf : 0);
            r += size;
        }
    }
    if (nt) _mm_sfence();
    if (body < len) {
        // Overlapping last vector: recomputes up to 31 bytes already written.
        int r = 0;
        for (int g = 0; g < groups; g++) {
            const int size = small + (g >= groups - large_count);
            cflud_groups[0][size](len - 32, len, k, tables + (size_t)r * stride, stride, inputs,
                                  outputs + r, 0);
            r += size;
        }
    }
}

#else // not x86-64: keep the symbol, run the scalar path.

void cfludkernels_avx2_gf_matmul(size_t len, int k, int rows, const uint8_t *tables,
                                 const uint8_t *const *inputs, uint8_t *const *outputs) {
    cfludkernels_scalar_gf_matmul(len, k, rows, tables, inputs, outputs);
}

#endif
