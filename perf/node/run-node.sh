#!/usr/bin/env bash
# flud's fragment service over loopback TCP, next to what bounds it, measured
# in one run: the block store alone (`flud bench store`, same sizes) and, for
# durable stores on disk, the disk's own durable write rate (dd + fdatasync).
# Usage: perf/node/run-node.sh   (after swift build -c release)
# Environment: FLUD (default .build/release/flud), ROUNDS (3),
#              TMPFS_DIR (/dev/shm), DISK_DIR (/var/tmp).
set -euo pipefail
cd "$(dirname "$0")/../.."
FLUD=${FLUD:-.build/release/flud}
ROUNDS=${ROUNDS:-3}
TMPFS_DIR=${TMPFS_DIR:-/dev/shm}
DISK_DIR=${DISK_DIR:-/var/tmp}
OUT=perf/out
mkdir -p "$OUT"
RAW="$OUT/node-raw.jsonl"
: > "$RAW"
work=$(mktemp -d "$DISK_DIR/flud-perf-node.XXXXXX")
trap 'rm -rf "$work" "$TMPFS_DIR"/flud-perf-store.*' EXIT

[ -x "$FLUD" ] || { echo "build first: swift build -c release" >&2; exit 1; }

for round in $(seq 1 "$ROUNDS"); do
    for medium in tmpfs disk; do
        dir=$TMPFS_DIR; [ "$medium" = disk ] && dir=$work
        "$FLUD" bench node --json --data "$dir" 2>/dev/null |
            sed "s/}\$/,\"tool\":\"node\",\"medium\":\"$medium\",\"round\":$round}/" >> "$RAW"
        store=$(mktemp -d "$dir/flud-perf-store.XXXXXX")
        for size in 65536 1048576; do
            "$FLUD" bench store --json --dir "$store" --size "$size" 2>/dev/null |
                grep '"batched":true,"durable":true' |
                sed "s/}\$/,\"tool\":\"store\",\"medium\":\"$medium\",\"round\":$round}/" >> "$RAW"
        done
        rm -rf "$store"
    done
    # What the medium itself takes: 1 GiB of new data written and synced,
    # about what one round's stores write.
    dd if=/dev/urandom of="$work/src" bs=1M count=1024 status=none
    # Once with one fdatasync at the end, once with a sync after every 4 MiB
    # (oflag=dsync), as the store's group commits of 1 MiB fragments sync.
    for medium in tmpfs disk; do
        target=$work/dst; [ "$medium" = tmpfs ] && target=$TMPFS_DIR/flud-perf-store.dd
        for tool in dd dd-dsync; do
            flags=(bs=1M conv=fdatasync); [ "$tool" = dd-dsync ] && flags=(bs=4M oflag=dsync)
            rate=$(dd if="$work/src" of="$target" "${flags[@]}" 2>&1 | awk '/copied/ {print $(NF-1), $NF}')
            rm -f "$target"
            echo "{\"tool\":\"$tool\",\"medium\":\"$medium\",\"round\":$round,\"rate\":\"$rate\"}" >> "$RAW"
        done
    done
    rm -f "$work/src"
done

python3 - "$RAW" <<'PY' | tee "$OUT/node-table.txt"
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def median(values): return statistics.median(values) if values else float("nan")
print(f"medians of {max(r['round'] for r in rows)} rounds; MB/s = 10^6 bytes of fragment per second")
for medium in ("tmpfs", "disk"):
    print(f"\n{medium}")
    print("op        size     conc  MB/s    ops/s   p50 ms  p99 ms  store alone MB/s  node/store")
    for size in (65536, 1048576):
        alone = median([r["mb_per_s"] for r in rows if r["tool"] == "store" and r["medium"] == medium
                        and r["value_bytes"] == size and r["op"] == "put"])
        for op in ("store", "retrieve"):
            for conc in (1, 32):
                sel = [r for r in rows if r["tool"] == "node" and r["medium"] == medium and r["size"] == size
                       and r["op"] == op and r["concurrency"] == conc]
                mb = median([r["mb_per_s"] for r in sel])
                extra = f"{alone:8.0f}          {mb / alone:.2f}" if op == "store" else ""
                print(f"{op:9} {size >> 10:5} KiB {conc:4} {mb:6.0f} {median([r['ops_per_s'] for r in sel]):8.0f}"
                      f" {median([r['p50_ms'] for r in sel]):7.2f} {median([r['p99_ms'] for r in sel]):7.2f}  {extra}")
for medium in ("tmpfs", "disk"):
    dd = [r["rate"] for r in rows if r["tool"] == "dd" and r["medium"] == medium]
    dsync = [r["rate"] for r in rows if r["tool"] == "dd-dsync" and r["medium"] == medium]
    print(f"\n{medium} write ceiling, 1 GiB of new data, per round:")
    print("  dd bs=1M conv=fdatasync (one sync at the end):", ", ".join(dd))
    print("  dd bs=4M oflag=dsync (a sync per 4 MiB, like a group commit):", ", ".join(dsync))
PY
