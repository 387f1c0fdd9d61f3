#!/usr/bin/env bash
# flud's DHT against bmuller/kademlia 2.2.3 on the same scenario and machine:
# NODES nodes on 127.0.0.1 in one process each, KEYS puts and gets, gets at
# concurrency 32, then 30 % of the nodes die and every key is got twice more.
# Rounds alternate between the two; every JSON line goes to OUT.
#
# bmuller/kademlia's gets after the kill each wait out a 5 s timeout, so it
# makes only KEYS_AFTER_KILL of them (default 30); flud makes all KEYS.
#
# usage: perf/dht/compare.sh [FLUD] [ROUNDS]   (NODES, KEYS, KEYS_AFTER_KILL, OUT from the environment)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
flud=${1:-$here/../../.build/release/flud}
rounds=${2:-3}
nodes=${NODES:-200}
keys=${KEYS:-500}
keys_after_kill=${KEYS_AFTER_KILL:-30}
out=${OUT:-$here/compare.jsonl}
venv=${VENV:-${TMPDIR:-/tmp}/flud-kademlia-venv}

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import kademlia' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet kademlia==2.2.3
fi
: > "$out"
for round in $(seq 1 "$rounds"); do
    echo "round $round: flud" >&2
    "$flud" bench dht --nodes "$nodes" --keys "$keys" --json | sed 's/}$/,"implementation":"flud","round":'"$round"'}/' >> "$out"
    echo "round $round: bmuller/kademlia" >&2
    "$venv/bin/python" "$here/bmuller_bench.py" "$nodes" "$keys" "$keys_after_kill" | sed 's/}$/, "round": '"$round"'}/' >> "$out"
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
phases = ["put", "get", "get_concurrent", "get_after_kill", "get_after_kill_second_pass"]
print(f"{'phase':28} {'implementation':24} {'success':>8} {'p50 ms':>8} {'p99 ms':>9} {'ops/s':>7} {'msgs':>6} {'cpu µs/op':>10}   (medians of rounds)")
for phase in phases:
    for name in ["flud", "bmuller/kademlia 2.2.3"]:
        runs = [r for r in rows if r["phase"] == phase and r["implementation"] == name]
        if not runs:
            continue
        median = lambda field: statistics.median(r[field] for r in runs)
        print(f"{phase:28} {name:24} {median('success'):8.3f} {median('p50_ms'):8.2f} {median('p99_ms'):9.2f} "
              f"{median('ops_per_s'):7.0f} {median('msgs_per_lookup'):6.1f} {median('cpu_us_per_op'):10.0f}")
PY
