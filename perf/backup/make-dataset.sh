#!/usr/bin/env bash
# A deterministic backup dataset: about DATASET_MIB MiB (default 1024) in a
# couple of thousand files of 1 KiB to 64 MiB (log-uniform within a small and a
# large class, so many small files and a few large ones hold most bytes), part
# incompressible (AES-CTR keystream, like media or encrypted files), part
# text-like (log and prose lines), a few percent exact duplicates, nested
# directories. Same SEED and DATASET_MIB give a byte-identical tree (and fixed
# mtimes) on any machine with the same coreutils; the random files depend only
# on AES, the text files also on `shuf -r`'s use of its random source.
# Usage: perf/backup/make-dataset.sh DIR [SEED]     (SEED: an integer, default 1)
# Needs: bash, coreutils, mawk or gawk, openssl (scripts/apt-ensure.sh openssl).
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 DIR [SEED]" >&2; exit 64; }
dir=$1
seed=${2:-1}
mib=${DATASET_MIB:-1024}
[[ $seed =~ ^[0-9]+$ ]] || { echo "SEED must be a non-negative integer" >&2; exit 64; }
[[ $mib =~ ^[0-9]+$ ]] && [ "$mib" -gt 0 ] || { echo "DATASET_MIB must be a positive integer" >&2; exit 64; }
command -v openssl > /dev/null || "$(dirname "$0")/../../scripts/apt-ensure.sh" openssl
if [ -e "$dir" ] && [ -n "$(ls -A "$dir")" ]; then echo "$dir exists and is not empty" >&2; exit 1; fi
mkdir -p "$dir"
dir=$(realpath "$dir")
scratch=$(mktemp -d)
pids=()
cleanup() {
    exec 3<&- 4<&-
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Every draw comes from one Park-Miller generator in awk with integer-exact
# arithmetic (products stay below 2^53), so mawk and gawk give the same plan;
# awk's own rand() differs between implementations.
awk_prng='
function rnd() { x = (x * 16807) % 2147483647; return x }
function seedrng(s) { x = (s * 7919 + 12345) % 2147483647; if (x == 0) x = 1; for (w = 0; w < 8; w++) rnd() }
'

# The plan: one line per file, "random|text SIZE PATH" or "dup SIZE PATH SOURCE".
awk -v seed="$seed" -v budget=$((mib << 20)) "$awk_prng"'
BEGIN {
    seedrng(seed)
    ntop = split("docs photos src logs music mail archive projects", top, " ")
    nmid = split("2019 2020 2021 2022 2023 alpha beta misc", mid, " ")
    nlow = split("a b c d e f", low, " ")
    left = budget
    for (i = 0; left > 0 && i < 1000000; i++) {
        depth = 1 + rnd() % 3
        path = top[1 + rnd() % ntop]
        if (depth > 1) path = path "/" mid[1 + rnd() % nmid]
        if (depth > 2) path = path "/" low[1 + rnd() % nlow]
        if (i >= 10 && rnd() % 100 < 3) {
            j = rnd() % i
            if (size[j] <= left) {
                size[i] = size[j]; name[i] = path "/" sprintf("copy-%05d-", i) base[j]; base[i] = base[j]
                print "dup", size[i], name[i], name[j]
                left -= size[i]
                continue
            }
        }
        # Two classes, each log-uniform: 1 KiB..1 MiB, and (2 %) 1 MiB..64 MiB.
        large = rnd() % 1000 < 20
        e = large ? 20 + rnd() % 6 : 10 + rnd() % 10
        s = 2 ^ e + rnd() % (2 ^ e)
        if (s > left) s = left
        text = rnd() % 100 < (large ? 30 : 55)
        kind = text ? "text" : "random"
        ext = text ? (rnd() % 2 ? "log" : "txt") : (large ? "raw" : "bin")
        size[i] = s; base[i] = sprintf("%05d.%s", i, ext); name[i] = path "/" base[i]
        print kind, s, name[i]
        left -= s
    }
}' > "$scratch/plan"

# The text source: lines drawn with replacement from a seeded pool of 100,000
# log and prose lines over a Zipf-like vocabulary of made-up words. A pool far
# larger than a chunk keeps chunks distinct across files (no accidental
# dedup); line repeats within a file give compressors something to find.
awk -v seed="$seed" "$awk_prng"'
BEGIN {
    seedrng(seed + 1000003)
    nsyl = split("ka lo mi ne ru sa te vo an el in or us ba de fi go hu ja ki la ma no pe qui re si tu ve", syl, " ")
    for (v = 0; v < 4000; v++) {
        n = 1 + rnd() % 3; w = ""
        for (k = 0; k < n; k++) w = w syl[1 + rnd() % nsyl]
        word[v] = w
    }
    nlvl = split("INFO INFO INFO DEBUG WARN ERROR", lvl, " ")
    for (l = 0; l < 100000; l++) {
        n = 3 + rnd() % 14; s = ""
        for (k = 0; k < n; k++) {
            u = rnd() % 4000
            s = s (k ? " " : "") word[int(u * u / 4000)]    # squared: frequent words at the front
        }
        r = rnd()
        if (r % 3)
            s = sprintf("2023-%02d-%02dT%02d:%02d:%02d.%03dZ %s svc-%s[%d]: %s id=%d",
                        1 + r % 12, 1 + r % 28, r % 24, int(r / 24) % 60, int(r / 1440) % 60, r % 1000,
                        lvl[1 + r % nlvl], word[r % 50], 1000 + r % 30000, s, rnd() % 100000)
        else
            s = toupper(substr(s, 1, 1)) substr(s, 2) "."
        print s
    }
}' > "$scratch/pool"

# Two long-lived streams that the files are cut from in plan order: head -c
# reads exactly N bytes from a pipe, so each file's bytes depend only on the
# plan. One openssl process instead of one per file (OpenSSL 3 takes ~10 ms
# to start).
key=$(printf 'flud-dataset:%s' "$seed" | sha256sum | cut -c1-64)
keystream() { openssl enc -aes-256-ctr -K "$key" -iv "$1" < /dev/zero 2> /dev/null; }
exec 3< <(keystream 00000000000000000000000000000001)
pids+=($!)
exec 4< <(shuf -r --random-source=<(keystream 00000000000000000000000000000002) "$scratch/pool" 2> /dev/null)
pids+=($!)

files=0 bytes=0 random_bytes=0 text_bytes=0 dups=0
declare -A made
while read -r kind size path source; do
    parent=${path%/*}
    [ -n "${made[$parent]:-}" ] || { mkdir -p "$dir/$parent"; made[$parent]=1; }
    case $kind in
        random) head -c "$size" <&3 > "$dir/$path"; random_bytes=$((random_bytes + size)) ;;
        text) head -c "$size" <&4 > "$dir/$path"; text_bytes=$((text_bytes + size)) ;;
        dup) cp "$dir/$source" "$dir/$path"; dups=$((dups + 1)) ;;
    esac
    files=$((files + 1)) bytes=$((bytes + size))
done < "$scratch/plan"

# A short stream would leave short files: check the total.
actual=$(find "$dir" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
[ "$actual" = "$bytes" ] || { echo "wrote $actual bytes, planned $bytes" >&2; exit 1; }
find "$dir" -exec touch -h -d @1700000000 {} +
dirs=$(find "$dir" -mindepth 1 -type d | wc -l)
echo "dataset $dir: $files files ($dups duplicates) in $dirs directories, $bytes bytes" \
     "($random_bytes random, $text_bytes text, $((bytes - random_bytes - text_bytes)) duplicate), seed $seed"
