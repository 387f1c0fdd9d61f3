#!/usr/bin/env bash
# The codec demo: encode a sample file with k = 20, m = 20, lose 20 random
# fragments, decode from the rest, check the bytes, then measure throughput.
set -euo pipefail
flud="$(realpath "${1:-.build/release/flud}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "== generating a 64 MiB sample file"
head -c $((64 << 20)) /dev/urandom > sample.bin

echo "== flud encode -k 20 -m 20"
mkdir fragments
"$flud" encode -k 20 -m 20 -o fragments sample.bin

echo "== deleting 20 random fragments of 40"
ls fragments/*.flud | shuf -n 20 | xargs rm -v | sed 's/^/   /'

echo "== flud decode from the 20 that are left"
"$flud" decode -o restored.bin fragments/*.flud
cmp sample.bin restored.bin
echo "   restored.bin is byte-identical to sample.bin"

echo "== flud bench codec"
"$flud" bench codec
