#!/usr/bin/env bash
# flud next to restic and borg on the same generated dataset: wall-clock backup
# and restore of each, rounds interleaved (flud, restic, borg, again) so that
# noise on this shared machine hits all three alike; medians and ratios.
# flud runs as 12 `flud node` processes on 127.0.0.1 plus the client, as in
# scripts/demo.sh; restic and borg use a local repository. Every round starts
# from nothing (fresh nodes, FLUD_HOME, repositories, caches), the page cache
# is dropped before each timed phase, and each restore is checked with diff -r.
# Usage: perf/backup/compare.sh [FLUD_BINARY]   (default .build/release/flud)
# Environment: ROUNDS (3); DATASET (an existing tree to use; otherwise
#   make-dataset.sh writes DATASET_MIB MiB, default 1024, with SEED, default 1);
#   FLUD_CODE (extra `flud backup` options, e.g. "-k 20 -m 20"); NODES (12);
#   WORK_DIR (where repositories and node stores go; default: the first of
#   $TMPDIR, /var/tmp, /tmp that is not tmpfs).
# Output: a table on standard output, raw rows in perf/out/backup-compare.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
flud=$(realpath "${1:-.build/release/flud}")
[ -x "$flud" ] || { echo "no flud binary at $flud (swift build -c release)" >&2; exit 1; }
rounds=${ROUNDS:-3}
nodes=${NODES:-12}
read -ra flud_code <<< "${FLUD_CODE:-}"
out=perf/out
raw=$out/backup-compare.jsonl
mkdir -p "$out"
scripts/apt-ensure.sh restic borgbackup python3

source perf/backup/common.sh
work_root=$(disk_work_root)
work=$(realpath "$(mktemp -d "$work_root/flud-compare.XXXXXX")")
fstype=$(df --output=fstype "$work" | tail -1)
device=$(df --output=source "$work" | tail -1)

source scripts/local-nodes.sh
stop_nodes() {
    for pid in "${local_node_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${local_node_pids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    local_node_pids=()
}
cleanup() {
    stop_nodes
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${DATASET:-}" ]; then
    dataset=$(realpath "$DATASET")
else
    dataset=$work/dataset
    perf/backup/make-dataset.sh "$dataset" "${SEED:-1}"
fi
bytes=$(find "$dataset" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s }')
files=$(find "$dataset" -type f | wc -l)
echo "dataset $dataset: $files files, $bytes bytes; work in $work ($fstype on $device)"

hz=$(getconf CLK_TCK)
# CPU seconds (user + system) used so far by the node processes.
node_cpu() {
    local pid ticks=0
    for pid in "${local_node_pids[@]}"; do
        ticks=$((ticks + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
    done
    awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'
}
# Runs a phase under bash's `time`; its "real user sys" go to $dir/$name.time
# and its output to $dir/$name.log, shown if it fails.
timed() {
    local dir=$1 name=$2; shift 2
    local TIMEFORMAT='%R %U %S' status=0
    { time "$@" > "$dir/$name.log" 2>&1 || status=$?; } 2> "$dir/$name.time"
    if [ "$status" != 0 ]; then
        echo "$name failed (exit $status): $*" >&2
        tail -20 "$dir/$name.log" >&2
        exit 1
    fi
}
# One JSON row per phase; MB/s in 10^6 bytes of dataset per wall second.
record() {
    local tool=$1 phase=$2 round=$3 dir=$4 extra=${5:-}
    local real user sys sync_s
    read -r real user sys < "$dir/$phase.time"
    local TIMEFORMAT='%R'
    sync_s=$({ time sync; } 2>&1)
    printf '{"tool":"%s","phase":"%s","round":%d,"bytes":%d,"files":%d,"seconds":%s,"mb_per_s":%s,"user_s":%s,"sys_s":%s,"sync_after_s":%s%s,"date":"%s"}\n' \
        "$tool" "$phase" "$round" "$bytes" "$files" "$real" \
        "$(awk -v b="$bytes" -v s="$real" 'BEGIN { printf "%.1f", b / s / 1e6 }')" \
        "$user" "$sys" "$sync_s" "$extra" "$(date -u +%FT%TZ)" >> "$raw"
    printf '  %-6s %-7s %7.2f s  %7.1f MB/s\n' "$tool" "$phase" "$real" \
        "$(awk -v b="$bytes" -v s="$real" 'BEGIN { print b / s / 1e6 }')"
}
verify() {
    diff -r --no-dereference "$dataset" "$1$dataset" > /dev/null ||
        { echo "$2: restored tree differs from the dataset" >&2; exit 1; }
}

run_flud() {
    local round=$1 dir=$work/flud-$round base
    start_local_nodes "$flud" "$nodes" "$dir" || exit 1
    base=$LOCAL_BASE
    export FLUD_HOME=$dir/home
    "$flud" key init > /dev/null 2>&1
    local cpu0 cpu1 cpu2 stored
    drop_caches
    cpu0=$(node_cpu)
    timed "$dir" backup "$flud" backup "${flud_code[@]}" "$dataset" --bootstrap "127.0.0.1:$base" --json
    cpu1=$(node_cpu)
    stored=$(du -sbc "$dir"/node-*/ | tail -1 | cut -f1)
    record flud backup "$round" "$dir" ",\"node_cpu_s\":$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }'),\"repo_bytes\":$stored,\"nodes\":$nodes,\"code\":\"${FLUD_CODE:-default}\""
    drop_caches
    timed "$dir" restore "$flud" restore --target "$dir/out" --bootstrap "127.0.0.1:$base" --json
    cpu2=$(node_cpu)
    record flud restore "$round" "$dir" ",\"node_cpu_s\":$(awk -v a="$cpu1" -v b="$cpu2" 'BEGIN { print b - a }'),\"nodes\":$nodes,\"code\":\"${FLUD_CODE:-default}\""
    verify "$dir/out" flud
    stop_nodes
    unset FLUD_HOME
    rm -rf "$dir"
}

run_restic() {
    local round=$1 dir=$work/restic-$round
    mkdir -p "$dir"
    export RESTIC_PASSWORD=x RESTIC_REPOSITORY=$dir/repo RESTIC_CACHE_DIR=$dir/cache
    restic init -q > /dev/null
    drop_caches
    timed "$dir" backup restic backup -q "$dataset"
    record restic backup "$round" "$dir" ",\"repo_bytes\":$(du -sb "$dir/repo" | cut -f1)"
    drop_caches
    timed "$dir" restore restic restore latest -q --target "$dir/out"
    record restic restore "$round" "$dir"
    verify "$dir/out" restic
    unset RESTIC_PASSWORD RESTIC_REPOSITORY RESTIC_CACHE_DIR
    rm -rf "$dir"
}

run_borg() {
    local round=$1 dir=$work/borg-$round
    mkdir -p "$dir/out"
    # BORG_BASE_DIR keeps borg's keys, cache and security files in the round.
    export BORG_PASSPHRASE=x BORG_REPO=$dir/repo BORG_BASE_DIR=$dir/base
    borg init --encryption=repokey > /dev/null 2>&1
    drop_caches
    timed "$dir" backup borg create ::a "$dataset"
    record borg backup "$round" "$dir" ",\"repo_bytes\":$(du -sb "$dir/repo" | cut -f1)"
    drop_caches
    # borg extract writes under the current directory.
    timed "$dir" restore sh -c 'cd "$1" && borg extract ::a' sh "$dir/out"
    record borg restore "$round" "$dir"
    verify "$dir/out" borg
    unset BORG_PASSPHRASE BORG_REPO BORG_BASE_DIR
    rm -rf "$dir"
}

: > "$raw"
for round in $(seq 1 "$rounds"); do
    echo "round $round/$rounds"
    run_flud "$round"
    run_restic "$round"
    run_borg "$round"
done

python3 - "$raw" <<'PY' | tee "$out/backup-compare-table.txt"
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
first = rows[0]
print(f"\n{first['files']} files, {first['bytes'] / 1e6:.0f} MB; median of {max(r['round'] for r in rows)} rounds;"
      " MB/s = 10^6 dataset bytes per wall-clock second")
def med(tool, phase, key):
    values = [r[key] for r in rows if r["tool"] == tool and r["phase"] == phase and key in r]
    return statistics.median(values) if values else float("nan")
print("tool    backup MB/s  restore MB/s   backup CPU s (client+nodes)  restore CPU s (client+nodes)  stored MB")
for tool in ("flud", "restic", "borg"):
    cpu = {p: med(tool, p, "user_s") + med(tool, p, "sys_s") for p in ("backup", "restore")}
    nodes = {p: med(tool, p, "node_cpu_s") for p in ("backup", "restore")}
    def fmt(p):
        return f"{cpu[p]:6.1f}" + (f" + {nodes[p]:5.1f}" if tool == "flud" else "        ")
    print(f"{tool:7} {med(tool, 'backup', 'mb_per_s'):11.1f} {med(tool, 'restore', 'mb_per_s'):13.1f}"
          f"   {fmt('backup'):>27}  {fmt('restore'):>28}  {med(tool, 'backup', 'repo_bytes') / 1e6:9.0f}")
for other in ("restic", "borg"):
    print(f"flud/{other:6}  backup {med('flud', 'backup', 'mb_per_s') / med(other, 'backup', 'mb_per_s'):.2f}"
          f"  restore {med('flud', 'restore', 'mb_per_s') / med(other, 'restore', 'mb_per_s'):.2f}")
PY
