#!/usr/bin/env bash
# Peak memory of flud backup (twice) and restore with many small files, on a
# local network of 12 nodes.
#
# Usage: perf/backup/memory.sh [FLUD_BINARY]   (default .build/release/flud)
# Environment: FILES (100000; written 1,000 per directory, ~17 bytes each),
#   WORK (a directory to work in; default a new one under /dev/shm).
# Prints, per command, its wall time and peak RssAnon / RssFile in KiB, sampled
# every 0.2 s from /proc/PID/status. Removes what it started on exit.
set -euo pipefail
flud="$(realpath "${1:-.build/release/flud}")"
files=${FILES:-100000}
work="${WORK:-$(mktemp -d /dev/shm/flud-memory.XXXXXX)}"
source "$(dirname "$0")/../../scripts/local-nodes.sh"
clean_up_on_exit "$work"
cd "$work"

echo "== writing $files files"
for (( d = 0; d * 1000 < files; d++ )); do
    mkdir -p "tree/d$d"
    for (( f = 0; f < 1000 && d * 1000 + f < files; f++ )); do echo "file $d $f $RANDOM" > "tree/d$d/f$f"; done
done

start_local_nodes "$flud" 12 nodes
base=$LOCAL_BASE
export FLUD_HOME="$work/home"
"$flud" key init > /dev/null 2>&1

# Runs "$@", then prints its time and peak RssAnon/RssFile.
measure() {
    local label="$1" start anon=0 file=0 a f
    shift
    start=$(date +%s.%N)
    "$@" > /dev/null 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        read -r a f < <(awk '/RssAnon/ { a = $2 } /RssFile/ { f = $2 } END { print a + 0, f + 0 }' "/proc/$pid/status" 2>/dev/null || echo "0 0")
        (( a > anon )) && anon=$a
        (( f > file )) && file=$f
        sleep 0.2
    done
    wait "$pid" || { echo "$label failed"; exit 1; }
    printf '%-14s %7.1f s   peak RssAnon %8d KiB   RssFile %8d KiB\n' "$label" \
        "$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')" "$anon" "$file"
}
measure "backup" "$flud" backup tree --bootstrap "127.0.0.1:$base"
measure "backup again" "$flud" backup tree --bootstrap "127.0.0.1:$base"
measure "restore" "$flud" restore --target restored --bootstrap "127.0.0.1:$base"
diff -r tree "restored$work/tree" > /dev/null && echo "restored tree is identical"
echo "index on disk: $(du -sh "$FLUD_HOME/index" | cut -f1)"
