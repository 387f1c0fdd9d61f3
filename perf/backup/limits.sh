#!/usr/bin/env bash
# What any implementation of flud's design must spend on this machine, next to
# restic in the same run: is "backup and restore each >= 2x restic" reachable?
#
# flud's design, whatever the code: compress the data (zstd -3), store it
# twice over (k + m fragments, 20 + 20 by default) on nodes reached through
# TCP, written durably; a restore reads k of the k + m fragments back over
# TCP, decompresses and writes the files. This script times those parts alone
# with plain tools on the same dataset and adds up their CPU seconds:
#   backup:  read every file, zstd -3 (one thread) on those that compress
#            (flud skips incompressible chunks), the fragments over loopback TCP
#            (one python3 process, 1 MiB sends), their durable write
#            (dd bs=4M oflag=dsync: a sync per 4 MiB, like the store's group
#            commits);
#   restore: the k fragments read cold (dd), over loopback TCP, then
#            zstd -d | tar -x into files.
# Left out, so the floor is low: hashing, encryption, Reed-Solomon, chunking,
# framing, every per-request and per-process cost. With 2 cores, 2x restic's
# speed leaves 2 x (restic's wall time / 2) = restic's wall time in CPU
# seconds; a floor above that means the goal cannot be met here.
# Usage: perf/backup/limits.sh   (run as root for cold caches)
# Environment: DATASET (a tree; otherwise make-dataset.sh writes DATASET_MIB
#   MiB), ROUNDS (3), K and M (20, 20), WORK_DIR (default: the first of
#   $TMPDIR, /var/tmp, /tmp that is not tmpfs).
# Output: a table on standard output, raw rows in perf/out/backup-limits.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-3}
k=${K:-20}
m=${M:-20}
out=perf/out
raw=$out/backup-limits.jsonl
mkdir -p "$out"
scripts/apt-ensure.sh restic zstd python3

source perf/backup/common.sh
work_root=$(disk_work_root)
work=$(realpath "$(mktemp -d "$work_root/flud-limits.XXXXXX")")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

if [ -n "${DATASET:-}" ]; then
    dataset=$(realpath "$DATASET")
else
    dataset=$work/dataset
    perf/backup/make-dataset.sh "$dataset" "${SEED:-1}"
fi
bytes=$(find "$dataset" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
echo "dataset $dataset: $bytes bytes; work in $work; code $k + $m"

# Runs a command under bash's `time` and records "real user sys" as a row.
measure() {
    local round=$1 part=$2; shift 2
    local TIMEFORMAT='%R %U %S' times real user sys
    times=$( { time "$@" > /dev/null 2> "$work/err" || { cat "$work/err" >&2; exit 1; }; } 2>&1 )
    read -r real user sys <<< "$times"
    printf '{"round":%d,"part":"%s","seconds":%s,"user_s":%s,"sys_s":%s,"bytes":%d,"date":"%s"}\n' \
        "$round" "$part" "$real" "$user" "$sys" "$bytes" "$(date -u +%FT%TZ)" >> "$raw"
    printf '  %-16s %6.2f s wall  %6.2f CPU s\n' "$part" "$real" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')"
}
# COUNT bytes from one thread to another over 127.0.0.1, 1 MiB per send.
loopback() {
    python3 - "$1" <<'PY'
import socket, sys, threading
total = int(sys.argv[1])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(1)
def sink():
    connection, _ = server.accept()
    buffer = memoryview(bytearray(1 << 20))
    while connection.recv_into(buffer):
        pass
    connection.close()
receiver = threading.Thread(target=sink)
receiver.start()
sender = socket.create_connection(server.getsockname())
chunk = memoryview(bytearray(1 << 20))
left = total
while left > 0:
    sent = min(left, len(chunk))
    sender.sendall(chunk[:sent])
    left -= sent
sender.close()
receiver.join()
PY
}
# Files whose first 64 KiB zstd shrinks by 10 % or more count as compressible
# (flud decides per chunk, as quickly); the others are only read.
find "$dataset" -type f -print0 | sort -z > "$work/all"
: > "$work/compressible"; : > "$work/incompressible"
while IFS= read -r -d '' file; do
    probe=$(head -c 65536 "$file" | wc -c)
    packed=$(head -c 65536 "$file" | zstd -3 -q -c | wc -c)
    if [ $((packed * 10)) -le $((probe * 9)) ]; then list=compressible; else list=incompressible; fi
    printf '%s\0' "$file" >> "$work/$list"
done < "$work/all"
echo "compressible: $(tr -cd '\0' < "$work/compressible" | wc -c) files, the rest: $(tr -cd '\0' < "$work/incompressible" | wc -c)"
compress() {
    xargs -0 cat < "$work/incompressible"
    xargs -0 cat < "$work/compressible" | zstd -3 -T1 -q -c
}
extract() { mkdir -p "$2" && zstd -dc "$1" | tar -x -C "$2" && sync; }

: > "$raw"
for round in $(seq 1 "$rounds"); do
    echo "round $round/$rounds"
    export RESTIC_PASSWORD=x RESTIC_REPOSITORY=$work/repo RESTIC_CACHE_DIR=$work/cache
    restic init -q > /dev/null
    drop_caches
    measure "$round" restic-backup restic backup -q "$dataset"
    drop_caches
    measure "$round" restic-restore restic restore latest -q --target "$work/restic-out"
    unset RESTIC_PASSWORD RESTIC_REPOSITORY RESTIC_CACHE_DIR
    rm -rf "$work/repo" "$work/cache" "$work/restic-out"

    drop_caches
    measure "$round" compress compress
    compressed=$(compress | wc -c)
    tar -C "$dataset" -cf - . | zstd -3 -T1 -q -c > "$work/data.tar.zst"
    stored_mib=$(( (compressed * (k + m) / k + (1 << 20) - 1) >> 20 ))
    fetched_mib=$(( (compressed + (1 << 20) - 1) >> 20 ))
    measure "$round" store-network loopback $((stored_mib << 20))
    measure "$round" store-durably dd if=/dev/zero of="$work/fragments" bs=4M count=$((stored_mib / 4)) oflag=dsync status=none
    drop_caches
    measure "$round" fetch-read dd if="$work/fragments" of=/dev/null bs=4M count=$((fetched_mib / 4)) status=none
    measure "$round" fetch-network loopback $((fetched_mib << 20))
    measure "$round" decompress-write extract "$work/data.tar.zst" "$work/flud-out"
    rm -rf "$work/fragments" "$work/flud-out" "$work/data.tar.zst"
    echo "  compressed $compressed bytes: $stored_mib MiB stored, $fetched_mib MiB fetched"
done

python3 - "$raw" "$k" "$m" <<'PY' | tee "$out/backup-limits-table.txt"
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
k, m = sys.argv[2], sys.argv[3]
def med(part, key):
    return statistics.median(r[key] if key != "cpu" else r["user_s"] + r["sys_s"] for r in rows if r["part"] == part)
parts = {"backup": ["compress", "store-network", "store-durably"],
         "restore": ["fetch-read", "fetch-network", "decompress-write"]}
print(f"\nmedians of {max(r['round'] for r in rows)} rounds; code {k} + {m}; 2 cores")
print(f"{'part':18} {'wall s':>7} {'CPU s':>7}")
for phase, names in parts.items():
    for name in names:
        print(f"{name:18} {med(name, 'seconds'):7.2f} {med(name, 'cpu'):7.2f}")
    floor = sum(med(name, "cpu") for name in names)
    restic = med(f"restic-{phase}", "seconds")
    print(f"{phase}: floor {floor:.2f} CPU s; restic {restic:.2f} s wall ({med(f'restic-{phase}', 'cpu'):.2f} CPU s);"
          f" 2x restic allows {restic:.2f} CPU s on 2 cores; floor / allowance {floor / restic:.2f}")
PY
