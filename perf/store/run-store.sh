#!/usr/bin/env bash
# Side-by-side store benchmark: flud's BlockStore vs raw LMDB from C.
#
# Builds perf/store/lmdb_raw_bench.c into perf/out/, then runs
# `flud bench store --json` and the C baseline interleaved: every round runs
# both tools for each fragment size (4 KiB, 64 KiB, 1 MiB), alternating which
# goes first, and the whole round is repeated ROUNDS times. The table holds the
# median MB/s per (tool, op, size, batched, durable) and flud's ratio to raw
# LMDB, with PASS/MISS on the goal rows (durable batched put >= 0.80x, every
# get >= 0.90x). See perf/store/README.md.
#
#   perf/store/run-store.sh                   # from the repo root, after `swift build -c release`
#   ROUNDS=5 perf/store/run-store.sh
#   FLUD=/path/to/flud DIR=/mnt/ssd/tmp perf/store/run-store.sh
#
# Environment:
#   FLUD           flud binary (default .build/release/flud)
#   ROUNDS         rounds (default 3)
#   DIR            where the stores go (default /dev/shm/flud-perf-store, tmpfs);
#                  the script works in a private subfolder it removes at exit
#   STORE_SECONDS  --seconds for both tools: cap on each put phase (default 2)
#   RAW_GROUP_OPS  cap on puts per batched raw transaction (default 0 = no cap,
#                  only the 256 MiB limit); 32 matches flud's 32 putting threads
#   FLUD_RETRIES   attempts per flud run if the binary is missing or fails,
#                  30 s apart (default 10; someone may be rebuilding it)
#   CC             C compiler (default cc)
#
# Writes perf/out/store-raw.jsonl (every JSON line, tagged with "tool",
# "round" and, for flud, the binary's "build" hash) and perf/out/store-table.txt.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

FLUD="${FLUD:-.build/release/flud}"
ROUNDS="${ROUNDS:-3}"
DIR="${DIR:-/dev/shm/flud-perf-store}"
STORE_SECONDS="${STORE_SECONDS:-2}"
RAW_GROUP_OPS="${RAW_GROUP_OPS:-0}"
FLUD_RETRIES="${FLUD_RETRIES:-10}"
CC="${CC:-cc}"
out="perf/out"
raw="$out/store-raw.jsonl"
table="$out/store-table.txt"
bench="$out/lmdb_raw_bench"
sizes=(4096 65536 1048576)

note() { printf '%s\n' "run-store: $*" >&2; }
die() { note "$*"; exit 1; }

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
[[ "$RAW_GROUP_OPS" =~ ^[0-9]+$ ]] || die "RAW_GROUP_OPS must be a non-negative integer (got '$RAW_GROUP_OPS')"
[[ "$FLUD_RETRIES" =~ ^[1-9][0-9]*$ ]] || die "FLUD_RETRIES must be a positive integer (got '$FLUD_RETRIES')"
[[ "$STORE_SECONDS" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "STORE_SECONDS must be a number (got '$STORE_SECONDS')"
command -v python3 >/dev/null || die "python3 is needed to aggregate the results"
mkdir -p "$out"

# --- scratch folder ------------------------------------------------------------
# Work in a private subfolder so that a DIR holding other things is left alone;
# remove it (and DIR, if we made it and it is empty) however the script ends.
made_dir=0
if [[ ! -d "$DIR" ]]; then
    mkdir -p "$DIR"
    made_dir=1
fi
work="$(mktemp -d "$DIR/run.XXXXXX")"
cleanup() {
    rm -rf -- "$work"
    if (( made_dir )); then rmdir -- "$DIR" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fs_type="$(stat -f -c %T "$work")"
[[ "$fs_type" == tmpfs ]] || note "warning: $DIR is on $fs_type, not tmpfs: durable puts will measure the disk's fsync"

# --- build the C baseline --------------------------------------------------------
note "building $bench"
"$CC" -O2 -Wall -o "$bench" perf/store/lmdb_raw_bench.c -llmdb -lisal \
    || die "could not build perf/store/lmdb_raw_bench.c (are liblmdb-dev and libisal-dev installed?)"

# --- runners -----------------------------------------------------------------------
tmp_out="$work/output.jsonl"

# flud may be rebuilt while we run: retry a missing binary or a failed run.
run_flud() { # size round
    local size="$1" round="$2" attempt build
    for (( attempt = 1; attempt <= FLUD_RETRIES; attempt++ )); do
        if [[ -x "$FLUD" ]] &&
            build="$(sha256sum "$FLUD" | cut -c1-12)" &&
            "$FLUD" bench store --dir "$work" --json --size "$size" --seconds "$STORE_SECONDS" > "$tmp_out" &&
            [[ "$(grep -c '"op"' "$tmp_out")" -eq 8 ]]; then
            sed -e "s/}\$/,\"tool\":\"flud\",\"round\":$round,\"build\":\"$build\"}/" "$tmp_out" >> "$raw"
            return 0
        fi
        note "flud at $FLUD is missing or failed (size $size, attempt $attempt of $FLUD_RETRIES)"
        (( attempt < FLUD_RETRIES )) && sleep 30
    done
    die "giving up on $FLUD"
}

run_raw() { # size round
    local size="$1" round="$2"
    "$bench" --dir "$work" --size "$size" --seconds "$STORE_SECONDS" --group-ops "$RAW_GROUP_OPS" > "$tmp_out" \
        || die "$bench failed (size $size)"
    [[ "$(grep -c '"op"' "$tmp_out")" -eq 12 ]] || die "$bench printed an unexpected number of lines"
    sed -e "s/}\$/,\"round\":$round}/" "$tmp_out" >> "$raw"
}

# --- interleaved rounds --------------------------------------------------------------
: > "$raw"
tools=(flud lmdb-c)
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
for (( round = 1; round <= ROUNDS; round++ )); do
    note "round $round of $ROUNDS"
    for (( s = 0; s < ${#sizes[@]}; s++ )); do
        for (( t = 0; t < ${#tools[@]}; t++ )); do
            # Alternate which tool goes first, per size and per round.
            tool="${tools[$(( (t + s + round - 1) % ${#tools[@]} ))]}"
            note "  $tool, ${sizes[$s]} B"
            case "$tool" in
                flud) run_flud "${sizes[$s]}" "$round" ;;
                lmdb-c) run_raw "${sizes[$s]}" "$round" ;;
            esac
        done
    done
done

# --- aggregate -------------------------------------------------------------------------
python3 - "$raw" "$table" "$ROUNDS" "$STORE_SECONDS" "$RAW_GROUP_OPS" "$fs_type" "$started" <<'PY'
import json, statistics, sys
from collections import defaultdict

raw_path, table_path, rounds, seconds, group_ops, fs_type, started = sys.argv[1:8]
rounds, group_ops = int(rounds), int(group_ops)
samples = defaultdict(dict)          # (tool, op, size, batched, durable) -> {round: MB/s}
rates = defaultdict(dict)            # same key -> {round: ops/s}
builds = []
for line in open(raw_path):
    row = json.loads(line)
    key = (row["tool"], row["op"], row["value_bytes"], row["batched"], row["durable"])
    samples[key][row["round"]] = row["mb_per_s"]
    rates[key][row["round"]] = row["ops_per_s"]
    if row["tool"] == "flud" and row.get("build") not in builds:
        builds.append(row.get("build"))

def median(tool, op, size, batched, durable, source=samples):
    values = list(source.get((tool, op, size, batched, durable), {}).values())
    return statistics.median(values) if values else None

def round_ratios(op, size, batched, durable):
    flud = samples.get(("flud", op, size, batched, durable), {})
    raw = samples.get(("lmdb-c", op, size, batched, durable), {})
    return [flud[r] / raw[r] for r in sorted(flud) if r in raw and raw[r] > 0]

def size_text(size):
    if size % (1 << 20) == 0: return f"{size >> 20} MiB"
    if size % (1 << 10) == 0: return f"{size >> 10} KiB"
    return f"{size} B"

def mbps(value):
    return "-" if value is None else f"{value:.1f}"

header = ["size", "batched", "durable", "op", "lmdb-c MB/s", "flud MB/s", "flud/lmdb",
          "per-round", "goal", "lookup-only k/s"]
rows, passed, goals = [], 0, 0
for size in sorted({key[2] for key in samples}):
    for batched in (False, True):
        for durable in (True, False):
            for op in ("put", "get"):
                raw = median("lmdb-c", op, size, batched, durable)
                flud = median("flud", op, size, batched, durable)
                ratio = flud / raw if raw and flud is not None else None
                per_round = round_ratios(op, size, batched, durable)
                spread = f"{min(per_round):.2f}-{max(per_round):.2f}" if len(per_round) > 1 else "-"
                target = 0.8 if (op == "put" and batched and durable) else 0.9 if op == "get" else None
                goal = ""
                if target is not None and ratio is not None:
                    goals += 1
                    ok = ratio >= target
                    passed += ok
                    goal = f">={target:.2f} {'PASS' if ok else 'MISS'}"
                lookups = median("lmdb-c", "get_lookup", size, batched, durable, rates)
                lookup = f"{lookups / 1e3:.0f}" if op == "get" and lookups is not None else ""
                rows.append([size_text(size), "yes" if batched else "no", "yes" if durable else "no", op,
                             mbps(raw), mbps(flud), "-" if ratio is None else f"{ratio:.2f}x",
                             spread, goal, lookup])

widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
left = {0, 1, 2, 3, 8}
def render(cells):
    return "  ".join(str(c).ljust(w) if i in left else str(c).rjust(w)
                     for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
lines = [render(header), render(["-" * w for w in widths])] + [render(r) for r in rows]
lines += [
    "",
    f"goals met: {passed} of {goals}.",
    f"MB/s = 10^6 value bytes per second; median of {rounds} round(s) (started {started}, {fs_type});",
    "flud/lmdb = ratio of the medians; per-round = lowest-highest ratio of the two tools' runs in the same round.",
    f"put phase capped at {seconds} s, gets run for min({seconds}, 0.5) s. lmdb-c batched puts: "
    + ("all N puts per transaction (256 MiB cap)." if group_ops == 0 else f"at most {group_ops} puts per transaction."),
    "lmdb-c get = mdb_get + CRC-32C over the value (as flud). lookup-only k/s = thousand raw gets per second",
    "that read one byte of the value and skip the CRC (pure LMDB lookup; no flud counterpart, no goal).",
    "flud build(s), sha256 prefix: " + ", ".join(str(b) for b in builds)
    + ("  (WARNING: the binary changed during the run)" if len(builds) > 1 else ""),
]
text = "\n".join(lines) + "\n"
open(table_path, "w").write(text)
print(text, end="")
PY
note "raw lines: $raw; table: $table"
