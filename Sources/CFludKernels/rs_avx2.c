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
// Design (perf/kernels/README.md has the measurements behind it):
//   - Output groups: the rows are split into groups of at most 4 outputs, of
//     nearly equal size. A group walks the k inputs once per 64-byte step and
//     keeps its 4 x 2 accumulators in ymm registers; each output is stored once.
//     Per input and step: two loads, one shift, four ands (shared by the group);
//     per coefficient: two 16-byte table broadcasts (pure loads, each serving
//     both 32-byte halves), four vpshufb and four vpxor. Register use: 8
//     accumulators + 4 nibble vectors + 2 tables + mask + 1 temporary = 16.
//   - Column blocks: every group sweeps the same block of all k inputs before
//     the next block starts, so inputs are read from memory once and then come
//     from L1/L2 for the other groups (ISA-L instead re-reads the whole inputs
//     for every 6 outputs). Block: about 16 KiB of input in all (direct path).
//   - Pre-split path (3+ groups, k <= 128): the nibbles of a block of every
//     input are computed once into a 16 KiB stack scratch area and the groups
//     load them, which takes the shift and the ands (same ALU pipes as the
//     shuffles and xors) out of the per-group work. Block: 16 KiB / (2 k).
//   - k = 1: the input's nibbles are computed once per 64-byte step for all rows.
//   - Large calls (k * len >= 4 MiB): the next block of every input and of
//     every output is prefetched while the current one is computed.
//   - Tail: a final 32-byte step, and for len % 32 != 0 one overlapping 32-byte
//     vector at len - 32 (outputs are overwritten, so recomputing a few bytes is
//     harmless). Calls with len < 32 use the scalar path, with the same tables.
//   - All loads and stores are unaligned-safe; no access (prefetches included)
//     falls outside [in[c], in[c] + len) or [out[r], out[r] + len).
//
// No heap allocation, no global state: the function is reentrant and thread-safe.

#include "CFludKernels.h"

bool cfludkernels_gf_matmul_optimized(void) {
#if defined(__OPTIMIZE__)
    return true;
#else
    return false;
#endif
}

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

// Tuning knobs (compile-time; the defaults are what perf/kernels/README.md measured).
// Direct path: bytes of input (all k shards together) that one column block covers.
#ifndef CFLUD_L1_BUDGET
#define CFLUD_L1_BUDGET (16 * 1024)
#endif
#ifndef CFLUD_BLOCK_MIN
#define CFLUD_BLOCK_MIN 256
#endif
#ifndef CFLUD_BLOCK_MAX
#define CFLUD_BLOCK_MAX (8 * 1024)
#endif
// Software prefetch (one block ahead) when k * len is at least this many bytes,
// i.e. when the inputs are unlikely to be in L2/L3 already.
#ifndef CFLUD_PREFETCH_THRESHOLD
#define CFLUD_PREFETCH_THRESHOLD ((size_t)4 << 20)
#endif
// Pre-split path: stack scratch for the nibbles (2 * k * block bytes are used),
// used from this many groups on (with 2 groups the saving does not pay for the
// extra stores and loads).
#ifndef CFLUD_SCRATCH
#define CFLUD_SCRATCH ((size_t)16 * 1024)
#endif
#ifndef CFLUD_SPLIT_MIN_GROUPS
#define CFLUD_SPLIT_MIN_GROUPS 3
#endif

#define CFLUD_GROUP_MAX 4
#define CFLUD_AVX2 __attribute__((target("avx2")))
#define CFLUD_INLINE static inline __attribute__((always_inline))
// The hot functions start on a 64-byte boundary: with the default 16-byte
// alignment the speed of the short rows = 1 loop varied by 20% with the link
// position (measured: two identical copies of this file in one binary).
#define CFLUD_HOT __attribute__((aligned(64)))

CFLUD_INLINE CFLUD_AVX2 __m256i cflud_load(const uint8_t *p) {
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

CFLUD_INLINE CFLUD_AVX2 void cflud_store(uint8_t *p, __m256i v) {
    _mm256_storeu_si256((__m256i *)(void *)p, v);
}

CFLUD_INLINE CFLUD_AVX2 __m256i cflud_bcast(const uint8_t *p) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)p));
}

CFLUD_INLINE CFLUD_AVX2 __m256i cflud_xor(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }

CFLUD_INLINE CFLUD_AVX2 __m256i cflud_shuffle(__m256i table, __m256i index) {
    return _mm256_shuffle_epi8(table, index);
}

// x & 15 and (x >> 4) & 15 per byte.
CFLUD_INLINE CFLUD_AVX2 __m256i cflud_low(__m256i x, __m256i mask) { return _mm256_and_si256(x, mask); }
CFLUD_INLINE CFLUD_AVX2 __m256i cflud_high(__m256i x, __m256i mask) {
    return _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
}

// Per output j of the group (only j < G exists after inlining): the tables of
// (row j, current input) are at t + j * stride.
#define CFLUD_W_FIRST(j)                                                                     \
    if (G > j) {                                                                             \
        const __m256i tl = cflud_bcast(t + (j) * stride), th = cflud_bcast(t + (j) * stride + 16); \
        a##j = cflud_xor(cflud_shuffle(tl, lo0), cflud_shuffle(th, hi0));                    \
        b##j = cflud_xor(cflud_shuffle(tl, lo1), cflud_shuffle(th, hi1));                    \
    }
// Accumulated one shuffle at a time, so that a single temporary is live: the 8
// accumulators, 4 nibble vectors, 2 tables and the mask fill the other 15
// registers. GCC would re-associate a ^ s0 ^ s1 into a ^ (s0 ^ s1), which needs
// a second temporary and spills an accumulator; an empty asm keeps the order.
#if defined(__GNUC__) && !defined(__clang__)
#define CFLUD_KEEP(v) __asm__("" : "+x"(v))
#else
#define CFLUD_KEEP(v) ((void)0)
#endif
#define CFLUD_W_NEXT(j)                                                                      \
    if (G > j) {                                                                             \
        const __m256i tl = cflud_bcast(t + (j) * stride), th = cflud_bcast(t + (j) * stride + 16); \
        a##j = cflud_xor(a##j, cflud_shuffle(tl, lo0));                                      \
        b##j = cflud_xor(b##j, cflud_shuffle(tl, lo1));                                      \
        CFLUD_KEEP(a##j);                                                                    \
        CFLUD_KEEP(b##j);                                                                    \
        a##j = cflud_xor(a##j, cflud_shuffle(th, hi0));                                      \
        b##j = cflud_xor(b##j, cflud_shuffle(th, hi1));                                      \
    }
#define CFLUD_W_STORE(j)                                                                     \
    if (G > j) {                                                                             \
        if (out_prefetch) _mm_prefetch((const char *)(out[j] + i + out_prefetch), _MM_HINT_T0); \
        cflud_store(out[j] + i, a##j);                                                       \
        cflud_store(out[j] + i + 32, b##j);                                                  \
    }
#define CFLUD_N_FIRST(j) \
    if (G > j) a##j = cflud_xor(cflud_shuffle(cflud_bcast(t + (j) * stride), lo0), \
                                cflud_shuffle(cflud_bcast(t + (j) * stride + 16), hi0));
#define CFLUD_N_NEXT(j) \
    if (G > j) a##j = cflud_xor(a##j, cflud_xor(cflud_shuffle(cflud_bcast(t + (j) * stride), lo0), \
                                                cflud_shuffle(cflud_bcast(t + (j) * stride + 16), hi0)));
#define CFLUD_N_STORE(j) \
    if (G > j) cflud_store(out[j] + i, a##j);
#define CFLUD_EACH(M) M(0) M(1) M(2) M(3)

// One group of G outputs (G is a compile-time constant after inlining) over
// the bytes [begin, end), end - begin a multiple of 32: 64-byte steps, then at
// most one 32-byte step. tab: tables of (first row of the group, input 0);
// stride = 32 * k, the distance between the tables of consecutive rows.
// in_prefetch / out_prefetch: prefetch distance for inputs / outputs (0: none).
CFLUD_INLINE CFLUD_AVX2 void cflud_group(const int G, size_t begin, size_t end, int k, const uint8_t *tab,
                                         size_t stride, const uint8_t *const *in, uint8_t *const *out,
                                         size_t in_prefetch, size_t out_prefetch) {
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    __m256i b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    size_t i = begin;
    for (; i + 64 <= end; i += 64) {
        const uint8_t *t = tab;
        {
            const uint8_t *p = in[0] + i;
            const __m256i x0 = cflud_load(p), x1 = cflud_load(p + 32);
            if (in_prefetch) _mm_prefetch((const char *)(p + in_prefetch), _MM_HINT_T0);
            const __m256i lo0 = cflud_low(x0, mask), hi0 = cflud_high(x0, mask);
            const __m256i lo1 = cflud_low(x1, mask), hi1 = cflud_high(x1, mask);
            CFLUD_EACH(CFLUD_W_FIRST)
        }
        for (int c = 1; c < k; c++) {
            t += 32;
            const uint8_t *p = in[c] + i;
            const __m256i x0 = cflud_load(p), x1 = cflud_load(p + 32);
            if (in_prefetch) _mm_prefetch((const char *)(p + in_prefetch), _MM_HINT_T0);
            const __m256i lo0 = cflud_low(x0, mask), hi0 = cflud_high(x0, mask);
            const __m256i lo1 = cflud_low(x1, mask), hi1 = cflud_high(x1, mask);
            CFLUD_EACH(CFLUD_W_NEXT)
        }
        CFLUD_EACH(CFLUD_W_STORE)
    }
    if (i < end) { // one 32-byte vector left
        const uint8_t *t = tab;
        {
            const __m256i x0 = cflud_load(in[0] + i);
            const __m256i lo0 = cflud_low(x0, mask), hi0 = cflud_high(x0, mask);
            CFLUD_EACH(CFLUD_N_FIRST)
        }
        for (int c = 1; c < k; c++) {
            t += 32;
            const __m256i x0 = cflud_load(in[c] + i);
            const __m256i lo0 = cflud_low(x0, mask), hi0 = cflud_high(x0, mask);
            CFLUD_EACH(CFLUD_N_NEXT)
        }
        CFLUD_EACH(CFLUD_N_STORE)
    }
}

typedef void (*cflud_group_fn)(size_t, size_t, int, const uint8_t *, size_t, const uint8_t *const *,
                               uint8_t *const *, size_t, size_t);

#define CFLUD_DEFINE_GROUP(g)                                                                      \
    static CFLUD_AVX2 CFLUD_HOT void cflud_group_##g(size_t begin, size_t end, int k, const uint8_t *tab,    \
                                           size_t stride, const uint8_t *const *in,                \
                                           uint8_t *const *out, size_t in_prefetch,                \
                                           size_t out_prefetch) {                                  \
        cflud_group(g, begin, end, k, tab, stride, in, out, in_prefetch, out_prefetch);           \
    }
CFLUD_DEFINE_GROUP(1)
CFLUD_DEFINE_GROUP(2)
CFLUD_DEFINE_GROUP(3)
CFLUD_DEFINE_GROUP(4)

static const cflud_group_fn cflud_groups[CFLUD_GROUP_MAX + 1] = {
    0, cflud_group_1, cflud_group_2, cflud_group_3, cflud_group_4,
};

// ---------------------------------------------------------------------------
// Pre-split path, for rows > 2 * CFLUD_GROUP_MAX (3+ groups): the nibbles of
// a block of every input are computed once into a stack scratch area, so the
// groups only load them (4 loads per input and 64-byte step) instead of
// recomputing them (one shift and two ands per 32 bytes, on the same ALU pipes
// as the shuffles and xors). Scratch layout: for 64-byte step s and input c,
// 4 vectors (lo0, hi0, lo1, hi1) at index 4 * (s * k + c).

static CFLUD_AVX2 CFLUD_HOT void cflud_split(size_t begin, size_t steps, int k, const uint8_t *const *in, __m256i *nib,
                                   size_t in_prefetch) {
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const size_t step_stride = (size_t)4 * (size_t)k;
    for (int c = 0; c < k; c++) {
        const uint8_t *p = in[c] + begin;
        __m256i *q = nib + (size_t)4 * (size_t)c;
        for (size_t s = 0; s < steps; s++, p += 64, q += step_stride) {
            const __m256i x0 = cflud_load(p), x1 = cflud_load(p + 32);
            if (in_prefetch) _mm_prefetch((const char *)(p + in_prefetch), _MM_HINT_T0);
            _mm256_store_si256(q, cflud_low(x0, mask));
            _mm256_store_si256(q + 1, cflud_high(x0, mask));
            _mm256_store_si256(q + 2, cflud_low(x1, mask));
            _mm256_store_si256(q + 3, cflud_high(x1, mask));
        }
    }
}

// One group of G outputs over `steps` 64-byte steps from byte offset begin,
// reading the nibbles from the scratch area.
CFLUD_INLINE CFLUD_AVX2 void cflud_group_split(const int G, size_t begin, size_t steps, int k,
                                               const uint8_t *tab, size_t stride, const __m256i *nib,
                                               uint8_t *const *out, size_t out_prefetch) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    __m256i b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    const __m256i *q = nib;
    for (size_t s = 0; s < steps; s++) {
        const size_t i = begin + 64 * s;
        const uint8_t *t = tab;
        {
            const __m256i lo0 = _mm256_load_si256(q), hi0 = _mm256_load_si256(q + 1);
            const __m256i lo1 = _mm256_load_si256(q + 2), hi1 = _mm256_load_si256(q + 3);
            q += 4;
            CFLUD_EACH(CFLUD_W_FIRST)
        }
        for (int c = 1; c < k; c++) {
            t += 32;
            const __m256i lo0 = _mm256_load_si256(q), hi0 = _mm256_load_si256(q + 1);
            const __m256i lo1 = _mm256_load_si256(q + 2), hi1 = _mm256_load_si256(q + 3);
            q += 4;
            CFLUD_EACH(CFLUD_W_NEXT)
        }
        CFLUD_EACH(CFLUD_W_STORE)
    }
}

typedef void (*cflud_group_split_fn)(size_t, size_t, int, const uint8_t *, size_t, const __m256i *,
                                     uint8_t *const *, size_t);

#define CFLUD_DEFINE_GROUP_SPLIT(g)                                                                 \
    static CFLUD_AVX2 CFLUD_HOT void cflud_group_split_##g(size_t begin, size_t steps, int k, const uint8_t *tab, \
                                                 size_t stride, const __m256i *nib,                 \
                                                 uint8_t *const *out, size_t out_prefetch) {        \
        cflud_group_split(g, begin, steps, k, tab, stride, nib, out, out_prefetch);                \
    }
CFLUD_DEFINE_GROUP_SPLIT(1)
CFLUD_DEFINE_GROUP_SPLIT(2)
CFLUD_DEFINE_GROUP_SPLIT(3)
CFLUD_DEFINE_GROUP_SPLIT(4)

static const cflud_group_split_fn cflud_groups_split[CFLUD_GROUP_MAX + 1] = {
    0, cflud_group_split_1, cflud_group_split_2, cflud_group_split_3, cflud_group_split_4,
};

// ---------------------------------------------------------------------------
// k = 1 (replication-like codes): out[r] = coef[r] * in. One input, so its
// nibbles are computed once per 64-byte step and every row only costs two
// table broadcasts, four shuffles, two xors and two stores; the bytes
// [begin, end), end - begin a multiple of 32.

static CFLUD_AVX2 CFLUD_HOT void cflud_one_input(size_t begin, size_t end, int rows, const uint8_t *tables,
                                       const uint8_t *in, uint8_t *const *out) {
    const __m256i mask = _mm256_set1_epi8(0x0F);
    size_t i = begin;
    for (; i + 64 <= end; i += 64) {
        const __m256i x0 = cflud_load(in + i), x1 = cflud_load(in + i + 32);
        const __m256i lo0 = cflud_low(x0, mask), hi0 = cflud_high(x0, mask);
        const __m256i lo1 = cflud_low(x1, mask), hi1 = cflud_high(x1, mask);
        const uint8_t *t = tables;
        for (int r = 0; r < rows; r++, t += 32) {
            const __m256i tl = cflud_bcast(t), th = cflud_bcast(t + 16);
            cflud_store(out[r] + i, cflud_xor(cflud_shuffle(tl, lo0), cflud_shuffle(th, hi0)));
            cflud_store(out[r] + i + 32, cflud_xor(cflud_shuffle(tl, lo1), cflud_shuffle(th, hi1)));
        }
    }
    if (i < end) {
        const __m256i x0 = cflud_load(in + i);
        const __m256i lo0 = cflud_low(x0, mask), hi0 = cflud_high(x0, mask);
        const uint8_t *t = tables;
        for (int r = 0; r < rows; r++, t += 32)
            cflud_store(out[r] + i, cflud_xor(cflud_shuffle(cflud_bcast(t), lo0), cflud_shuffle(cflud_bcast(t + 16), hi0)));
    }
}

CFLUD_AVX2
void cfludkernels_avx2_gf_matmul(size_t len, int k, int rows, const uint8_t *tables,
                                 const uint8_t *const *inputs, uint8_t *const *outputs) {
    if (len == 0 || k <= 0 || rows <= 0) return;
    if (len < 32) {
        cfludkernels_scalar_gf_matmul(len, k, rows, tables, inputs, outputs);
        return;
    }
    if (k == 1) {
        const size_t body = len & ~(size_t)31;
        cflud_one_input(0, body, rows, tables, inputs[0], outputs);
        if (body < len) cflud_one_input(len - 32, len, rows, tables, inputs[0], outputs);
        return;
    }
    const size_t stride = (size_t)32 * (size_t)k;

    // The fewest groups of at most CFLUD_GROUP_MAX rows, of nearly equal size:
    // the first `groups - larger` groups have `size` rows, the others size + 1.
    const int groups = (rows + CFLUD_GROUP_MAX - 1) / CFLUD_GROUP_MAX;
    const int size = rows / groups;
    const int larger = rows % groups;

    // Pre-split path when there are enough groups and the scratch area holds
    // at least one 64-byte step of every input (k <= CFLUD_SCRATCH / 128).
    __m256i scratch[CFLUD_SCRATCH / sizeof(__m256i)];
    const size_t split_block = (CFLUD_SCRATCH / (2 * (size_t)k)) & ~(size_t)63;
    const int split = groups >= CFLUD_SPLIT_MIN_GROUPS && split_block >= 64;

    // Column block, a multiple of 64: about CFLUD_L1_BUDGET bytes of input in
    // all, or what the scratch area holds.
    size_t block = (size_t)CFLUD_L1_BUDGET / (size_t)k;
    if (block < CFLUD_BLOCK_MIN) block = CFLUD_BLOCK_MIN;
    if (block > CFLUD_BLOCK_MAX) block = CFLUD_BLOCK_MAX;
    if (split) block = split_block < CFLUD_BLOCK_MAX ? split_block : CFLUD_BLOCK_MAX;
    block &= ~(size_t)63;

    const size_t body = len & ~(size_t)31; // whole 32-byte vectors
    const int prefetch = (size_t)k * len >= CFLUD_PREFETCH_THRESHOLD;

    for (size_t begin = 0; begin < body; begin += block) {
        const size_t end = body - begin > block ? begin + block : body;
        // Prefetch one block ahead, while that block is inside the buffers.
        const size_t ahead = prefetch && end + block <= body ? block : 0;
        size_t direct = begin; // start of what the direct path does
        if (split) {
            const size_t steps = (end - begin) / 64;
            if (steps) {
                cflud_split(begin, steps, k, inputs, scratch, ahead);
                int r = 0;
                for (int g = 0; g < groups; g++) {
                    const int n = size + (g >= groups - larger);
                    cflud_groups_split[n](begin, steps, k, tables + (size_t)r * stride, stride, scratch,
                                          outputs + r, ahead);
                    r += n;
                }
                direct = begin + 64 * steps;
            }
        }
        if (direct < end) {
            int r = 0;
            for (int g = 0; g < groups; g++) {
                const int n = size + (g >= groups - larger);
                cflud_groups[n](direct, end, k, tables + (size_t)r * stride, stride, inputs, outputs + r,
                                g == 0 && !split ? ahead : 0, ahead);
                r += n;
            }
        }
    }
    if (body < len) {
        // Overlapping last vector: recomputes up to 31 bytes already written.
        int r = 0;
        for (int g = 0; g < groups; g++) {
            const int n = size + (g >= groups - larger);
            cflud_groups[n](len - 32, len, k, tables + (size_t)r * stride, stride, inputs, outputs + r, 0, 0);
            r += n;
        }
    }
}

#else // not x86-64: keep the symbol, run the scalar path.

void cfludkernels_avx2_gf_matmul(size_t len, int k, int rows, const uint8_t *tables,
                                 const uint8_t *const *inputs, uint8_t *const *outputs) {
    cfludkernels_scalar_gf_matmul(len, k, rows, tables, inputs, outputs);
}

#endif
