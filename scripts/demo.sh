#!/usr/bin/env bash
# The whole mission on one machine: a local network of 12 storage nodes, a
# sample directory backed up (20 + 20), a third of the nodes SIGKILLed, the
# user's machine "lost" (its keys deleted), everything restored from the
# recovery phrase alone and checked byte for byte. Then the codec on its own.
set -euo pipefail
flud="$(realpath "${1:-.build/release/flud}")"
work="$(mktemp -d)"
source "$(dirname "$0")/local-nodes.sh"
clean_up_on_exit "$work"
cd "$work"
now() { date +%s.%N; }
since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.2f", end - start }'; }

nodes=12
echo "== starting $nodes storage nodes on 127.0.0.1"
start_local_nodes "$flud" "$nodes" nodes
base=$LOCAL_BASE
echo "   ports $base-$((base + nodes - 1))"

export FLUD_HOME="$work/home"
echo "== flud key init (the recovery phrase is the one credential)"
phrase=$("$flud" key init 2>/dev/null)
echo "   $phrase"

echo "== making a sample directory: random and compressible files, a duplicate, a symlink"
mkdir -p sample/photos sample/docs
for i in 1 2 3 4; do head -c $((8 << 20)) /dev/urandom > "sample/photos/img-$i.raw"; done
cp sample/photos/img-1.raw sample/docs/copy-of-img-1.raw
for i in $(seq 1 200); do seq 1 2000 | sed "s/^/line of document $i: /" > "sample/docs/doc-$i.txt"; done
ln -s ../photos/img-2.raw sample/docs/link-to-img-2
size=$(du -sb sample | cut -f1)
echo "   $(find sample -type f | wc -l) files, $((size / 1048576)) MiB"

echo "== flud backup sample (k = 20, m = 20: any 20 of a chunk's 40 fragments rebuild it)"
t=$(now)
"$flud" backup sample --bootstrap "127.0.0.1:$base"
backup_s=$(since "$t")

killed=$(seq 1 $((nodes - 1)) | shuf -n $((nodes / 3)) | sort -n | tr '\n' ' ')
echo "== SIGKILL of a third of the nodes: $killed"
lost=0
for i in $killed; do
    kill -9 "${local_node_pids[$i]}"
    wait "${local_node_pids[$i]}" 2>/dev/null || true
    lost=$((lost + $("$flud" store stats --data "nodes/node-$i" --json | sed 's/.*"fragments":\([0-9]*\).*/\1/')))
done
echo "   $lost fragments gone with them"

echo "== the machine is lost: keys and local index deleted; import the phrase on a 'new' machine"
rm -rf "$FLUD_HOME"
echo "$phrase" | "$flud" key import

echo "== flud restore --target restored"
t=$(now)
"$flud" restore --target restored --bootstrap "127.0.0.1:$base"
restore_s=$(since "$t")
diff -r --no-dereference sample "restored$work/sample"
echo "   restored/…/sample is byte-identical to sample (files, symlink)"

echo
echo "== report"
echo "   data              $((size / 1048576)) MiB in $(find sample -type f | wc -l) files"
echo "   network           $nodes nodes, $(echo "$killed" | wc -w) killed, $lost fragments lost"
echo "   backup            $backup_s s"
echo "   restore           $restore_s s (after the kill, from the recovery phrase alone)"
echo "   result            everything restored byte for byte"

echo
echo "== the codec alone: encode 64 MiB 20+20, delete 20 fragments, decode"
head -c $((64 << 20)) /dev/urandom > sample.bin
mkdir fragments
"$flud" encode -k 20 -m 20 -o fragments sample.bin
ls fragments/*.flud | shuf -n 20 | xargs rm
"$flud" decode -o restored.bin fragments/*.flud
cmp sample.bin restored.bin
echo "   restored.bin is byte-identical to sample.bin"
"$flud" bench codec -k 20 -m 20
