#!/usr/bin/env bash
# Swift 6.3's optimizer can lose the elements of a tuple that an async
# function or task returns when they are written before a suspension inside
# the same tuple expression: `(index, try await fetch(index))` came back from
# task-group children with `index` zeroed or garbage in -O builds only
# (swiftlang/swift#91911, fixed after 6.3). Awaiting into a `let` first and
# then building the tuple is safe. This check keeps the pattern out of the code.
set -euo pipefail
cd "$(dirname "$0")/.."
found=$(perl -ne '
    print "$ARGV:$.: $_" if /(?:\breturn|\bin|[{(=])\s*\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*?,\s*(?:try[?!]?\s+)?await\b/;
    close ARGV if eof' $(find Sources Tests -name '*.swift'))
if [ -n "$found" ]; then
    echo "A tuple element is written before an await in the same tuple (miscompiled in release builds by Swift 6.3);" >&2
    echo "await into a let first, then build the tuple:" >&2
    echo "$found" >&2
    exit 1
fi
