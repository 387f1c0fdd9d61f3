/* Helpers shared by the C programs under perf/: the same clock, the same
 * stripe layout and the same test data as flud's own benchmarks, so that
 * every program measures the same thing. Each program defines usage(). */
#ifndef FLUD_PERF_COMMON_H
#define FLUD_PERF_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_LINE 64
#define PAGE 4096

static void usage(void);

static inline void die(const char *message) {
    fprintf(stderr, "%s\n", message);
    exit(1);
}

static inline double monotonic_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static inline size_t round_up(size_t value, size_t multiple) {
    return (value + multiple - 1) / multiple * multiple;
}

/* flud's StripeBuffer layout: whole cache lines, and for shards of a page or
 * more an odd number of lines past a page multiple. */
static inline size_t shard_stride(size_t capacity) {
    size_t lines = round_up(capacity, CACHE_LINE);
    if (lines < PAGE) return lines > CACHE_LINE ? lines : CACHE_LINE;
    return round_up(capacity, PAGE) + 7 * CACHE_LINE;
}

/* flud's XorshiftStar (xorshift64*): same seed, same sequence. */
static inline uint64_t xorshift_star_seed(uint64_t seed) {
    return (seed * 0x9E3779B97F4A7C15ULL) | 1;
}

static inline uint64_t xorshift_star_next(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1DULL;
}

/* flud's fillPseudoRandom (xorshift64*, bytes little-endian): same seed, same bytes. */
static inline void fill_pseudo_random(uint8_t *buffer, size_t count, uint64_t seed) {
    uint64_t state = xorshift_star_seed(seed);
    size_t offset = 0;
    while (offset < count) {
        uint64_t word = xorshift_star_next(&state);
        size_t n = count - offset < 8 ? count - offset : 8;
        memcpy(buffer + offset, &word, n);
        offset += n;
    }
}

/* order = a permutation of 0..<count: flud's Array.shuffleRepeatably
 * (Fisher-Yates with xorshift64*), the same permutation for the same seed. */
static inline void shuffle_indices(size_t *order, size_t count, uint64_t seed) {
    for (size_t i = 0; i < count; i++) order[i] = i;
    uint64_t state = xorshift_star_seed(seed);
    for (size_t last = count; last-- > 1;) {
        size_t other = (size_t)(xorshift_star_next(&state) % (uint64_t)(last + 1));
        size_t kept = order[last];
        order[last] = order[other];
        order[other] = kept;
    }
}

static inline int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A whole decimal number, or the program's usage message. */
static inline long parse_number(const char *text) {
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (!end || *end != '\0' || end == text) usage();
    return value;
}

#endif
