// GF(2^8) matrix multiply (Reed-Solomon encode / decode) with AVX-512 and GFNI.
//
//   out[r][i] = XOR over c of coef[r][c] * in[c][i]     (polynomial 0x11D)
//
// Multiplying by a constant is linear over GF(2), so it is an 8x8 bit matrix,
// and vgf2p8affineqb applies one such matrix to 64 bytes in one instruction,
// whatever the polynomial (gf2p8mulb is fixed to AES's 0x11B, so it cannot
// serve here). Per coefficient and 64 bytes that is one affine and half a
// three-way xor (vpternlogq folds two products into the accumulator), against
// four shuffles, four xors and the nibble split of the AVX2 kernel.
//
// Design (perf/kernels/README.md has the measurements behind it):
//   - Tables: one 8-byte matrix per coefficient, (r, c) at index r * k + c,
//     built once by cfludkernels_gfni_tables and broadcast from memory.
//   - Output groups of at most 8 rows, of nearly equal size, 128 bytes a step:
//     16 accumulators and 4 input vectors out of 32 zmm registers. A group
//     walks the inputs two at a time and stores each output once.
//   - Column blocks: every group sweeps the same block of all k inputs before
//     the next block starts, so inputs come from memory once and from L1/L2
//     for the other groups.
//   - Tail: the last len % 64 bytes use masked loads and stores, which touch
//     nothing outside the buffers, so any length and alignment needs no
//     scalar path.
//   - Large calls (at least 16 MiB of output, more than stays in cache for
//     whoever reads it next) of one group with 64-byte aligned outputs use
//     non-temporal stores: the outputs are not read into the cache first, a
//     quarter of the memory traffic at 4 + 2 (64 MiB: 20-22 -> 25-28 GB/s).
//     With several groups (20 + 20) they measured 10 % slower for encode.
//
// No heap allocation, no global state: the function is reentrant and thread-safe.

#include "CFludKernels.h"

static uint8_t cflud_gf_mul(uint8_t a, uint8_t b) {
    unsigned product = 0, x = a;
    for (; b; b >>= 1) {
        if (b & 1) product ^= x;
        x <<= 1;
        if (x & 0x100) x ^= 0x11D;
    }
    return (uint8_t)product;
}

// The matrix A with affine(A, x) = coef * x: bit i of the result is the parity
// of (byte 7 - i of A) & x, so byte 7 - i holds bit i of coef * 2^j at bit j.
static uint64_t cflud_gfni_matrix(uint8_t coef) {
    uint64_t matrix = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t row = 0;
        for (int j = 0; j < 8; j++) row |= (uint64_t)((cflud_gf_mul(coef, (uint8_t)(1u << j)) >> i) & 1) << j;
        matrix |= row << (8 * (7 - i));
    }
    return matrix;
}

void cfludkernels_gfni_tables(int k, int rows, const uint8_t *coefficients, uint64_t *tables) {
    for (size_t index = 0; index < (size_t)k * (size_t)rows; index++) tables[index] = cflud_gfni_matrix(coefficients[index]);
}

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

#define CFLUD_GFNI __attribute__((target("avx512f,avx512bw,avx512vl,gfni")))
#define CFLUD_INLINE static inline __attribute__((always_inline))
#define CFLUD_HOT __attribute__((aligned(64)))
#define CFLUD_GFNI_GROUP_MAX 8
// Bytes of input (all k shards together) that one column block covers.
#ifndef CFLUD_GFNI_BLOCK_BUDGET
#define CFLUD_GFNI_BLOCK_BUDGET (32 * 1024)
#endif
// Bytes of output (all rows together) from which outputs are streamed.
#ifndef CFLUD_GFNI_STREAM_THRESHOLD
#define CFLUD_GFNI_STREAM_THRESHOLD ((size_t)16 << 20)
#endif

CFLUD_INLINE CFLUD_GFNI __m512i cflud_mul(__m512i x, const uint64_t *matrix) {
    return _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64((long long)*matrix), 0);
}

// a ^ b ^ c in one instruction.
CFLUD_INLINE CFLUD_GFNI __m512i cflud_xor3(__m512i a, __m512i b, __m512i c) {
    return _mm512_ternarylogic_epi64(a, b, c, 0x96);
}

#define CFLUD_EACH8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define CFLUD_ZERO(j) __m512i a##j = _mm512_setzero_si512(), b##j = a##j;
// Two inputs (x: bytes i.., y: bytes i + 64..; 0 and 1 the two inputs).
#define CFLUD_PAIR(j)                                                                        \
    if (G > j) {                                                                             \
        const uint64_t *t = tab + (size_t)(j) * (size_t)k + c;                               \
        a##j = cflud_xor3(a##j, cflud_mul(x0, t), cflud_mul(x1, t + 1));                     \
        b##j = cflud_xor3(b##j, cflud_mul(y0, t), cflud_mul(y1, t + 1));                     \
    }
#define CFLUD_SINGLE(j)                                                                      \
    if (G > j) {                                                                             \
        const uint64_t *t = tab + (size_t)(j) * (size_t)k + c;                               \
        a##j = _mm512_xor_si512(a##j, cflud_mul(x0, t));                                     \
        b##j = _mm512_xor_si512(b##j, cflud_mul(y0, t));                                     \
    }
#define CFLUD_STORE(j)                                                                       \
    if (G > j) {                                                                             \
        if (stream) {                                                                        \
            _mm512_stream_si512((void *)(out[j] + i), a##j);                                 \
            _mm512_stream_si512((void *)(out[j] + i + 64), b##j);                            \
        } else {                                                                             \
            _mm512_storeu_si512(out[j] + i, a##j);                                           \
            _mm512_storeu_si512(out[j] + i + 64, b##j);                                      \
        }                                                                                    \
    }
// The 64-byte (and masked tail) step keeps only the a accumulators.
#define CFLUD_PAIR_HALF(j)                                                                   \
    if (G > j) {                                                                             \
        const uint64_t *t = tab + (size_t)(j) * (size_t)k + c;                               \
        a##j = cflud_xor3(a##j, cflud_mul(x0, t), cflud_mul(x1, t + 1));                     \
    }
#define CFLUD_SINGLE_HALF(j)                                                                 \
    if (G > j) a##j = _mm512_xor_si512(a##j, cflud_mul(x0, tab + (size_t)(j) * (size_t)k + c));
#define CFLUD_STORE_HALF(j) \
    if (G > j) _mm512_mask_storeu_epi8(out[j] + i, mask, a##j);

// One group of G outputs (a compile-time constant after inlining) over the
// bytes [begin, end): 128-byte steps, then 64-byte steps whose last one may be
// partial (masked). tab: the matrices of (first row of the group, input 0).
// stream: store the 128-byte steps non-temporally (outputs 64-byte aligned,
// begin a multiple of 128).
CFLUD_INLINE CFLUD_GFNI void cflud_gfni_group(const int G, size_t begin, size_t end, int k, const uint64_t *tab,
                                              const uint8_t *const *in, uint8_t *const *out, int stream) {
    size_t i = begin;
    for (; i + 128 <= end; i += 128) {
        CFLUD_EACH8(CFLUD_ZERO)
        int c = 0;
        for (; c + 2 <= k; c += 2) {
            const __m512i x0 = _mm512_loadu_si512(in[c] + i), y0 = _mm512_loadu_si512(in[c] + i + 64);
            const __m512i x1 = _mm512_loadu_si512(in[c + 1] + i), y1 = _mm512_loadu_si512(in[c + 1] + i + 64);
            CFLUD_EACH8(CFLUD_PAIR)
        }
        if (c < k) {
            const __m512i x0 = _mm512_loadu_si512(in[c] + i), y0 = _mm512_loadu_si512(in[c] + i + 64);
            CFLUD_EACH8(CFLUD_SINGLE)
        }
        CFLUD_EACH8(CFLUD_STORE)
    }
    for (; i < end; i += 64) {
        const __mmask64 mask = end - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (end - i)) - 1);
        CFLUD_EACH8(CFLUD_ZERO)
        int c = 0;
        for (; c + 2 <= k; c += 2) {
            const __m512i x0 = _mm512_maskz_loadu_epi8(mask, in[c] + i);
            const __m512i x1 = _mm512_maskz_loadu_epi8(mask, in[c + 1] + i);
            CFLUD_EACH8(CFLUD_PAIR_HALF)
        }
        if (c < k) {
            const __m512i x0 = _mm512_maskz_loadu_epi8(mask, in[c] + i);
            CFLUD_EACH8(CFLUD_SINGLE_HALF)
        }
        CFLUD_EACH8(CFLUD_STORE_HALF)
        (void)b0; (void)b1; (void)b2; (void)b3; (void)b4; (void)b5; (void)b6; (void)b7;
    }
}

typedef void (*cflud_gfni_group_fn)(size_t, size_t, int, const uint64_t *, const uint8_t *const *, uint8_t *const *,
                                    int);

#define CFLUD_DEFINE_GFNI_GROUP(g)                                                                       \
    static CFLUD_GFNI CFLUD_HOT void cflud_gfni_group_##g(size_t begin, size_t end, int k, const uint64_t *tab, \
                                                          const uint8_t *const *in, uint8_t *const *out,    \
                                                          int stream) {                                     \
        cflud_gfni_group(g, begin, end, k, tab, in, out, stream);                                        \
    }
CFLUD_DEFINE_GFNI_GROUP(1)
CFLUD_DEFINE_GFNI_GROUP(2)
CFLUD_DEFINE_GFNI_GROUP(3)
CFLUD_DEFINE_GFNI_GROUP(4)
CFLUD_DEFINE_GFNI_GROUP(5)
CFLUD_DEFINE_GFNI_GROUP(6)
CFLUD_DEFINE_GFNI_GROUP(7)
CFLUD_DEFINE_GFNI_GROUP(8)

static const cflud_gfni_group_fn cflud_gfni_groups[CFLUD_GFNI_GROUP_MAX + 1] = {
    0,
    cflud_gfni_group_1, cflud_gfni_group_2, cflud_gfni_group_3, cflud_gfni_group_4,
    cflud_gfni_group_5, cflud_gfni_group_6, cflud_gfni_group_7, cflud_gfni_group_8,
};

void cfludkernels_gfni_gf_matmul(size_t len, int k, int rows, const uint64_t *tables,
                                 const uint8_t *const *inputs, uint8_t *const *outputs) {
    if (len == 0 || k <= 0 || rows <= 0) return;
    // The fewest groups of at most CFLUD_GFNI_GROUP_MAX rows, of nearly equal
    // size: the first `groups - larger` have `size` rows, the others size + 1.
    const int groups = (rows + CFLUD_GFNI_GROUP_MAX - 1) / CFLUD_GFNI_GROUP_MAX;
    const int size = rows / groups;
    const int larger = rows % groups;
    // One group reads each input once whatever the block, so only several
    // groups need blocks small enough to stay in cache between them.
    size_t block = groups == 1 ? len : ((size_t)CFLUD_GFNI_BLOCK_BUDGET / (size_t)k) & ~(size_t)127;
    if (block < 256) block = 256;
    int stream = groups == 1 && (size_t)rows * len >= CFLUD_GFNI_STREAM_THRESHOLD;
    for (int r = 0; r < rows && stream; r++) stream = ((uintptr_t)outputs[r] & 63) == 0;
    for (size_t begin = 0; begin < len; begin += block) {
        const size_t end = len - begin > block ? begin + block : len;
        int r = 0;
        for (int g = 0; g < groups; g++) {
            const int n = size + (g >= groups - larger);
            cflud_gfni_groups[n](begin, end, k, tables + (size_t)r * (size_t)k, inputs, outputs + r, stream);
            r += n;
        }
    }
    if (stream) _mm_sfence(); // the streamed stores are visible before the caller reads the outputs
}

#else // not x86-64: GFNI does not exist; callers check cfludkernels_cpu_has_avx512_gfni() first.

void cfludkernels_gfni_gf_matmul(size_t len, int k, int rows, const uint64_t *tables,
                                 const uint8_t *const *inputs, uint8_t *const *outputs) {
    (void)len; (void)k; (void)rows; (void)tables; (void)inputs; (void)outputs;
    __builtin_trap();
}

#endif
