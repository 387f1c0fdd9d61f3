#!/usr/bin/env bash
# Swift 6.3's optimizer can lose the elements of a tuple that an async
# function or task returns when they are written before a suspension inside
# the same tuple expression: `(index, try await fetch(index))` came back from
# task-group children with `index` zeroed or garbage in -O builds only
# (swiftlang/swift#91911, fixed after 6.3). Awaiting into a `let` first and
# then building the tuple is safe. This check keeps the pattern out of the code:
# it reads each file whole (tuples span lines), drops comments and string
# literals, and flags every parenthesised group that is not a call's argument
# list and has an `await` after its first top-level comma.
set -euo pipefail
cd "$(dirname "$0")/.."
found=$(find Sources Tests Benchmarks Fuzz -name '*.swift' -not -path '*/.build*' -print0 2>/dev/null | xargs -0 perl -0777 -ne '
    my $text = $_;
    $text =~ s{"(?:[^"\\\n]|\\.)*"}{ "\"" . ("_" x (length($&) - 2)) . "\"" }ge;   # strings, same length
    $text =~ s{//[^\n]*}{ " " x length($&) }ge;                                      # line comments
    $text =~ s{/\*.*?\*/}{ my $c = $&; $c =~ s/[^\n]/ /g; $c }gse;                    # block comments
    while ($text =~ /(\((?:[^()]++|(?1))*\))/g) {
        my ($group, $start) = ($1, $-[1]);
        pos($text) = $start + 1;                                  # look inside it too
        my $before = substr($text, 0, $start);
        next if $before =~ /[\w)\]>?!]\s*\z/ && $before !~ /\b(?:return|in|yield|try|await|throw)\s*\z/;   # a call
        my $inner = substr($group, 1, -1);
        my ($depth, $comma) = (0, -1);
        for my $i (0 .. length($inner) - 1) {
            my $c = substr($inner, $i, 1);
            if ($c =~ /[(\[{]/) { $depth++ } elsif ($c =~ /[)\]}]/) { $depth-- }
            elsif ($c eq "," && $depth == 0) { $comma = $i; last }
        }
        next if $comma < 0 || substr($inner, $comma) !~ /\bawait\b/;
        my $line = 1 + ($before =~ tr/\n//);
        print "$ARGV:$line: ", (split /\n/, substr($_, $start, 160))[0], "\n";
    }') || true
if [ -n "$found" ]; then
    echo "A tuple element is written before an await in the same tuple (miscompiled in release builds by Swift 6.3);" >&2
    echo "await into a let first, then build the tuple:" >&2
    echo "$found" >&2
    exit 1
fi
