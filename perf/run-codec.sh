#!/usr/bin/env bash
# Side-by-side codec benchmark: raw ISA-L C vs flud vs klauspost/reedsolomon (Go).
#
# Same codes, sizes and timing method in all three (see perf/README.md). For each
# of the 6 configurations the tools run one after another (the order rotates
# every round), the whole round is repeated ROUNDS times, and the median GB/s per
# (tool, op, configuration) goes into the table.
#
#   perf/run-codec.sh                 # from the repo root, after `swift build -c release`
#   ROUNDS=5 perf/run-codec.sh
#   FLUD=/path/to/flud perf/run-codec.sh
#
# Environment: FLUD (default .build/release/flud), ROUNDS (default 3), CC (default
# cc), GOCODE (default /usr/share/gocode, where Debian's Go libraries live),
# KLAUSPOST_CPU_DISABLE (e.g. avx512; passed through to the Go benchmark).
#
# Writes perf/out/codec-raw.jsonl (every JSON line, tagged with "tool" and
# "round") and perf/out/codec-table.txt (the table printed at the end).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

FLUD="${FLUD:-.build/release/flud}"
ROUNDS="${ROUNDS:-3}"
CC="${CC:-cc}"
GOCODE="${GOCODE:-/usr/share/gocode}"
out="perf/out"
raw="$out/codec-raw.jsonl"
table="$out/codec-table.txt"

note() { printf '%s\n' "run-codec: $*" >&2; }
die() { note "$*"; exit 1; }

[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer (got '$ROUNDS')"
[[ -x "$FLUD" ]] || die "no flud binary at $FLUD (run 'swift build -c release' or 'make release', or set FLUD)"
command -v python3 >/dev/null || die "python3 is needed to aggregate the results"
mkdir -p "$out"

# --- build the C benchmark ---------------------------------------------------
note "building $out/isal_codec_bench"
"$CC" -O2 -Wall -o "$out/isal_codec_bench" perf/isal_codec_bench.c -lisal \
    || die "could not build perf/isal_codec_bench.c (is libisal-dev installed?)"

# --- build the Go benchmark (optional) ---------------------------------------
have_go=0
if ! command -v go >/dev/null; then
    note "skipping klauspost-go: 'go' not found (make perf-deps installs golang-go)"
elif [[ ! -d "$GOCODE/src/github.com/klauspost/reedsolomon" ]]; then
    note "skipping klauspost-go: $GOCODE/src/github.com/klauspost/reedsolomon not found" \
         "(make perf-deps installs golang-github-klauspost-reedsolomon-dev)"
else
    # Offline GOPATH build: a throw-away GOPATH maps the import path
    # fludperf/klauspost_bench onto perf/klauspost_bench; the library comes from
    # Debian's GOPATH tree. No module proxy, no network.
    gopath="$(mktemp -d)"
    trap 'rm -rf "$gopath"' EXIT
    mkdir -p "$gopath/src/fludperf"
    ln -s "$repo_root/perf/klauspost_bench" "$gopath/src/fludperf/klauspost_bench"
    note "building $out/klauspost_bench (Go $(go env GOVERSION), GOPATH mode, offline)"
    if (cd "$gopath/src/fludperf/klauspost_bench" &&
        GO111MODULE=off GOPATH="$gopath:$GOCODE" GOFLAGS= GOPROXY=off \
            go build -o "$repo_root/$out/klauspost_bench" .); then
        have_go=1
    else
        note "skipping klauspost-go: the Go build failed"
    fi
fi

# --- which kernel does flud use by default? ----------------------------------
default_kernel="$("$FLUD" bench codec --json -k 4 -m 2 --size 4096 |
    python3 -c 'import json, sys
for line in sys.stdin:
    row = json.loads(line)
    if row.get("default"):
        print(row["kernel"]); break')"
[[ -n "$default_kernel" ]] || die "could not tell flud's default kernel from '$FLUD bench codec --json'"
note "flud default kernel: $default_kernel"

# --- interleaved rounds ------------------------------------------------------
configs=("4 2 1048576" "4 2 67108864" "10 4 1048576" "10 4 67108864" "20 20 1048576" "20 20 67108864")
tools=(flud isal-c)
if (( have_go )); then tools+=(klauspost-go); fi

run_tool() { # tool k m bytes
    local tool="$1" k="$2" m="$3" bytes="$4"
    case "$tool" in
        flud)
            "$FLUD" bench codec --json -k "$k" -m "$m" --size "$bytes" --kernel isal
            if [[ "$default_kernel" != isal ]]; then
                "$FLUD" bench codec --json -k "$k" -m "$m" --size "$bytes" --kernel "$default_kernel"
            fi
            ;;
        isal-c) "$out/isal_codec_bench" -k "$k" -m "$m" --size "$bytes" ;;
        klauspost-go) "$out/klauspost_bench" -k "$k" -m "$m" --size "$bytes" ;;
    esac
}

: > "$raw"
for (( round = 1; round <= ROUNDS; round++ )); do
    note "round $round of $ROUNDS (${tools[*]})"
    for config in "${configs[@]}"; do
        read -r k m bytes <<< "$config"
        for (( t = 0; t < ${#tools[@]}; t++ )); do
            # Rotate the order every round so no tool always runs first.
            tool="${tools[$(( (t + round - 1) % ${#tools[@]} ))]}"
            run_tool "$tool" "$k" "$m" "$bytes" |
                sed -e "s/}\$/,\"tool\":\"$tool\",\"round\":$round}/" >> "$raw"
        done
    done
done

# --- aggregate ----------------------------------------------------------------
python3 - "$raw" "$table" "$ROUNDS" "$default_kernel" <<'PY'
import json, statistics, sys
from collections import defaultdict

raw_path, table_path, rounds, default_kernel = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
samples = defaultdict(list)
for line in open(raw_path):
    row = json.loads(line)
    column = row["tool"]
    if column == "flud":
        column = "flud" if row["kernel"] == "isal" else "flud-" + row["kernel"]
    samples[(column, row["op"], row["k"], row["m"], row["bytes"])].append(row["gbps"])

def median(column, op, k, m, size):
    values = samples.get((column, op, k, m, size))
    return statistics.median(values) if values else None

def size_text(size):
    return f"{size >> 20} MiB" if size % (1 << 20) == 0 else f"{size} B"

def number(value):
    return "-" if value is None else f"{value:.2f}"

def ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}x"

extra = sorted({key[0] for key in samples} - {"flud", "isal-c", "klauspost-go"})
header = ["config", "op", "isal-c GB/s", "flud GB/s", "flud/isal-c", "klauspost GB/s", "flud/klauspost"]
header += [f"{name} GB/s" for name in extra]
rows = []
configs = sorted({key[2:] for key in samples}, key=lambda c: (c[0], c[1], c[2]))
for k, m, size in configs:
    for op in ("encode", "decode"):
        isal = median("isal-c", op, k, m, size)
        flud = median("flud", op, k, m, size)
        klaus = median("klauspost-go", op, k, m, size)
        rows.append([f"({k},{m}) {size_text(size)}", op, number(isal), number(flud), ratio(flud, isal),
                     number(klaus), ratio(flud, klaus)] + [number(median(name, op, k, m, size)) for name in extra])

widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
def render(cells):
    return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
lines = [render(header), render(["-" * w for w in widths])] + [render(r) for r in rows]
lines.append("")
lines.append(f"GB/s = 10^9 bytes of data per second, single thread; median of {rounds} round(s),"
             f" each itself a median of 5-21 samples. flud column = flud --kernel isal"
             f" (flud's default kernel: {default_kernel}).")
text = "\n".join(lines) + "\n"
open(table_path, "w").write(text)
print(text, end="")
PY
note "raw lines: $raw; table: $table"
