#!/usr/bin/env bash
# Known-answer vectors for fragment keys (BLAKE3), computed by b3sum (Debian's
# build of the Rust implementation), not by the C library flud links.
# Inputs as in BLAKE3's own test vectors: byte i of the input is i mod 251;
# the lengths cross the 1 KiB chunk and SIMD-batch boundaries.
# Run from this folder to regenerate blake3.json (deterministic).
set -euo pipefail
command -v b3sum >/dev/null || { echo "needs b3sum (apt-get install b3sum)" >&2; exit 1; }
lengths=(0 1 1023 1024 1025 2048 2049 3072 3073 4096 4097 5120 5121 6144 6145 7168 7169 8192 8193 16384 31744 52429 102400 1048577)
{
    printf '{\n "source": "%s; input byte i = i mod 251",\n "cases": [\n' "$(b3sum --version)"
    for index in "${!lengths[@]}"; do
        length=${lengths[$index]}
        digest=$(python3 -c "import sys; sys.stdout.buffer.write(bytes(i % 251 for i in range($length)))" | b3sum --no-names)
        separator=","
        (( index == ${#lengths[@]} - 1 )) && separator=""
        printf '  {"length": %d, "blake3": "%s"}%s\n' "$length" "$digest" "$separator"
    done
    printf ' ]\n}\n'
} > blake3.json
