/*
 * Raw-LMDB baseline for `flud bench store`.
 *
 * Same fragment sizes, fragment counts, environment flags and map size as
 * flud's store benchmark (Sources/flud/Bench/StoreBenchmark.swift), with none
 * of flud's extra work: no BLAKE3 key check, no CRC-32C on put, no claim/lease/owner
 * records, no group-commit writer thread. See perf/store/README.md.
 *
 *   cc -O2 -Wall -o perf/out/lmdb_raw_bench perf/store/lmdb_raw_bench.c -llmdb -lisal
 *   perf/out/lmdb_raw_bench --dir /dev/shm/x [--size BYTES] [--seconds S] [--group-ops N]
 *
 * For each configuration (size x single/batched x durable/not) it creates a
 * fresh environment in DIR/lmdb-raw-<pid>-<size>-<batched>-<durable> (removed
 * afterwards) and prints three JSON lines (four with --cold):
 *
 *   {"op":"put",...}         puts
 *   {"op":"get",...}         get + CRC-32C over the value (what flud's get does)
 *                            (gets read the keys in flud's shuffled order)
 *   {"op":"get_lookup",...}  get + read the last byte only (pure LMDB lookup)
 *
 * and with --cold, before them, one pass of gets after a reopen with the file
 * dropped from the page cache ({"op":"get_cold",...}).
 *
 * each with "value_bytes", "batched", "durable", "ops_per_s", "mb_per_s"
 * (10^6 bytes) and "tool":"lmdb-c".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../perf_common.h"

#define KEY_BYTES 32
#define MAP_SIZE ((size_t)1 << 30)
#define MAX_GROUP_BYTES ((size_t)256 << 20)
#define GET_BATCH 256

static void fail(const char *what, int rc) {
    fprintf(stderr, "lmdb_raw_bench: %s: %s\n", what, mdb_strerror(rc));
    exit(1);
}

#define CHECK(call)                          \
    do {                                     \
        int rc_ = (call);                    \
        if (rc_ != 0) fail(#call, rc_);      \
    } while (0)

/* 32 well-mixed bytes per index (splitmix64), standing in for flud's BLAKE3
 * keys: same length, same random insertion order, no hashing cost. */
static void make_key(uint8_t key[KEY_BYTES], uint64_t index, uint64_t size) {
    uint64_t x = index * 0x100000001B3ull ^ size;
    for (int i = 0; i < KEY_BYTES / 8; i++) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        memcpy(key + 8 * i, &z, 8);
    }
}

/* CRC-32C, standard definition (flud's CRC32C.checksum). */
static uint32_t crc32c(const uint8_t *bytes, size_t count) {
    uint32_t reg = 0xFFFFFFFFu;
    while (count > 0) {
        size_t piece = count > ((size_t)1 << 30) ? ((size_t)1 << 30) : count;
        reg = crc32_iscsi((unsigned char *)bytes, (int)piece, reg);
        bytes += piece;
        count -= piece;
    }
    return ~reg;
}

static void print_result(const char *op, size_t size, int batched, int durable, double ops_per_s) {
    double mb = ops_per_s * (double)size / 1e6;
    printf("{\"op\":\"%s\",\"value_bytes\":%zu,\"batched\":%s,\"durable\":%s,"
           "\"ops_per_s\":%.1f,\"mb_per_s\":%.1f,\"tool\":\"lmdb-c\"}\n",
           op, size, batched ? "true" : "false", durable ? "true" : "false",
           (double)(long long)(ops_per_s + 0.5), (double)(long long)(mb * 10 + 0.5) / 10);
    fflush(stdout);
}

enum get_kind { GET_CRC, GET_LOOKUP };

/* flud's get loop: all stored keys in flud's shuffled order (the one its
 * bench reads in; a node's peers ask for fragments in no particular order),
 * over and over, for min(seconds, 0.5) s. Single: one read transaction per
 * get; batched: GET_BATCH gets per read transaction. Returns gets per second. */
static double run_gets(MDB_env *env, MDB_dbi dbi, uint8_t (*keys)[KEY_BYTES], const uint32_t *crcs,
                       size_t stored, size_t size, int batched, double seconds, enum get_kind kind) {
    double limit = seconds < 0.5 ? seconds : 0.5;
    uint8_t sink = 0;
    size_t reads = 0;
    size_t *order = malloc(stored * sizeof *order);
    if (!order) die("lmdb_raw_bench: out of memory");
    shuffle_indices(order, stored, size);
    double start = monotonic_seconds();
    do {
        for (size_t first = 0; first < stored; first += batched ? GET_BATCH : 1) {
            size_t end = first + (batched ? GET_BATCH : 1);
            if (end > stored) end = stored;
            MDB_txn *txn;
            CHECK(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn));
            for (size_t n = first; n < end; n++) {
                size_t i = order[n];
                MDB_val key = {KEY_BYTES, keys[i]}, value;
                CHECK(mdb_get(txn, dbi, &key, &value));
                if (value.mv_size != size) {
                    fprintf(stderr, "lmdb_raw_bench: value %zu has %zu bytes, expected %zu\n", i, value.mv_size, size);
                    exit(1);
                }
                const uint8_t *bytes = value.mv_data;
                if (kind == GET_CRC && crc32c(bytes, value.mv_size) != crcs[i]) {
                    fprintf(stderr, "lmdb_raw_bench: CRC-32C mismatch on value %zu\n", i);
                    exit(1);
                }
                sink += bytes[value.mv_size - 1];
            }
            mdb_txn_abort(txn);
        }
        reads += stored;
    } while (monotonic_seconds() - start < limit);
    double rate = (double)reads / (monotonic_seconds() - start);
    free(order);
    /* Keep the byte reads observable. */
    __asm__ volatile("" : : "r"(sink));
    return rate;
}

static void remove_environment(const char *folder) {
    char path[4096 + 16];
    snprintf(path, sizeof path, "%s/data.mdb", folder);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", folder);
    unlink(path);
    rmdir(folder);
}

/* flud's environment: NOTLS | NORDAHEAD (+ NOSYNC), 1 GiB map, 32 named
 * databases, 1024 readers; the fragments live in a named database. */
static void open_environment(const char *folder, int durable, MDB_env **env, MDB_dbi *dbi) {
    CHECK(mdb_env_create(env));
    CHECK(mdb_env_set_mapsize(*env, MAP_SIZE));
    CHECK(mdb_env_set_maxdbs(*env, 32));
    CHECK(mdb_env_set_maxreaders(*env, 1024));
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (durable ? 0 : MDB_NOSYNC);
    CHECK(mdb_env_open(*env, folder, flags, 0644));
    MDB_txn *txn;
    CHECK(mdb_txn_begin(*env, NULL, 0, &txn));
    CHECK(mdb_dbi_open(txn, "fragments", MDB_CREATE, dbi));
    CHECK(mdb_txn_commit(txn));
}

/* flud's --cold: the environment closed, its file written out and dropped
 * from the page cache, then opened again, as after a restart. */
static void reopen_cold(const char *folder, int durable, MDB_env **env, MDB_dbi *dbi) {
    mdb_env_close(*env);
    char path[4096 + 16];
    snprintf(path, sizeof path, "%s/data.mdb", folder);
    int fd = open(path, O_RDONLY);
    if (fd < 0) { fprintf(stderr, "lmdb_raw_bench: open %s: %s\n", path, strerror(errno)); exit(1); }
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    open_environment(folder, durable, env, dbi);
}

static void run_config(const char *dir, size_t size, int batched, int durable, double seconds, size_t group_ops,
                       int cold) {
    size_t count = ((size_t)64 << 20) / size;
    if (count > 16384) count = 16384;
    if (count < 16) count = 16;

    char folder[4096];
    snprintf(folder, sizeof folder, "%s/lmdb-raw-%d-%zu-%s-%s", dir, (int)getpid(), size,
             batched ? "true" : "false", durable ? "true" : "false");
    if (mkdir(folder, 0755) != 0) {
        fprintf(stderr, "lmdb_raw_bench: mkdir %s: %s\n", folder, strerror(errno));
        exit(1);
    }

    /* Fragments, keys and expected CRCs, all made before any timing. */
    uint8_t **fragments = calloc(count, sizeof *fragments);
    uint8_t (*keys)[KEY_BYTES] = calloc(count, KEY_BYTES);
    uint32_t *crcs = calloc(count, sizeof *crcs);
    if (!fragments || !keys || !crcs) { fprintf(stderr, "lmdb_raw_bench: out of memory\n"); exit(1); }
    for (size_t i = 0; i < count; i++) {
        fragments[i] = aligned_alloc(64, (size + 63) / 64 * 64);
        if (!fragments[i]) { fprintf(stderr, "lmdb_raw_bench: out of memory\n"); exit(1); }
        fill_pseudo_random(fragments[i], size, (uint64_t)(i + 1) * 0x10000001ull ^ (uint64_t)size);
        make_key(keys[i], i, size);
        crcs[i] = crc32c(fragments[i], size);
    }

    MDB_env *env;
    MDB_dbi dbi;
    open_environment(folder, durable, &env, &dbi);

    /* Puts, capped at `seconds` like flud's. */
    size_t stored = 0;
    double start = monotonic_seconds();
    if (!batched) {
        while (stored < count) {
            MDB_txn *txn;
            CHECK(mdb_txn_begin(env, NULL, 0, &txn));
            MDB_val key = {KEY_BYTES, keys[stored]}, value = {size, fragments[stored]};
            CHECK(mdb_put(txn, dbi, &key, &value, 0));
            CHECK(mdb_txn_commit(txn));
            stored++;
            if (monotonic_seconds() - start > seconds) break;
        }
    } else {
        int out_of_time = 0;
        while (stored < count && !out_of_time) {
            MDB_txn *txn;
            CHECK(mdb_txn_begin(env, NULL, 0, &txn));
            size_t group_bytes = 0, group_count = 0;
            while (stored < count && (group_count == 0 || group_bytes + size <= MAX_GROUP_BYTES) &&
                   (group_ops == 0 || group_count < group_ops)) {
                if (monotonic_seconds() - start > seconds) { out_of_time = 1; break; }
                MDB_val key = {KEY_BYTES, keys[stored]}, value = {size, fragments[stored]};
                CHECK(mdb_put(txn, dbi, &key, &value, 0));
                stored++;
                group_count++;
                group_bytes += size;
            }
            CHECK(mdb_txn_commit(txn));
        }
    }
    double put_rate = (double)stored / (monotonic_seconds() - start);
    print_result("put", size, batched, durable, put_rate);

    if (cold) {
        reopen_cold(folder, durable, &env, &dbi);
        /* A time limit this short makes one pass. */
        print_result("get_cold", size, batched, durable,
                     run_gets(env, dbi, keys, crcs, stored, size, batched, 1e-9, GET_CRC));
    }
    print_result("get", size, batched, durable,
                 run_gets(env, dbi, keys, crcs, stored, size, batched, seconds, GET_CRC));
    print_result("get_lookup", size, batched, durable,
                 run_gets(env, dbi, keys, crcs, stored, size, batched, seconds, GET_LOOKUP));

    mdb_env_close(env);
    remove_environment(folder);
    for (size_t i = 0; i < count; i++) free(fragments[i]);
    free(fragments);
    free(keys);
    free(crcs);
}

static void usage(void) {
    fprintf(stderr, "usage: lmdb_raw_bench --dir DIR [--size BYTES] [--seconds S] [--group-ops N] [--cold]\n"
                    "  --group-ops N  cap batched put transactions at N puts (default: no cap,\n"
                    "                 only the 256 MiB group limit)\n"
                    "  --cold         also read every value once after a reopen with the file\n"
                    "                 dropped from the page cache (op get_cold), as flud's --cold\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    long long size = 0;
    double seconds = 2;
    long long group_ops = 0;
    int cold = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cold") == 0) { cold = 1; continue; }
        if (i + 1 >= argc) usage();
        char *end = NULL;
        if (strcmp(argv[i], "--dir") == 0) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--size") == 0) {
            size = strtoll(argv[++i], &end, 10);
            if (*end || size < 1 || size > (64ll << 20)) { fprintf(stderr, "--size must be 1 B .. 64 MiB\n"); return 2; }
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0 && seconds <= 600)) { fprintf(stderr, "--seconds must be in (0, 600]\n"); return 2; }
        } else if (strcmp(argv[i], "--group-ops") == 0) {
            group_ops = strtoll(argv[++i], &end, 10);
            if (*end || group_ops < 0) { fprintf(stderr, "--group-ops must be >= 0\n"); return 2; }
        } else {
            usage();
        }
    }
    if (!dir) usage();
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) { fprintf(stderr, "lmdb_raw_bench: %s is not a directory\n", dir); return 1; }

    size_t sizes[] = {4096, 65536, 1048576};
    size_t nsizes = 3;
    if (size) { sizes[0] = (size_t)size; nsizes = 1; }
    for (size_t s = 0; s < nsizes; s++)
        for (int batched = 0; batched <= 1; batched++)
            for (int durable = 1; durable >= 0; durable--)
                run_config(dir, sizes[s], batched, durable, seconds, (size_t)group_ops, cold);
    return 0;
}
