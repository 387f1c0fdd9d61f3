#!/usr/bin/env bash
# Installs BLAKE3's C library into /usr/local (libblake3.a, blake3.h and a
# pkg-config file) if it is not there yet.
#
# Debian 12 packages no BLAKE3 library, but its librust-blake3-dev carries the
# official C implementation with its SIMD assembly (the Rust crate builds it),
# so this compiles those sources as Debian ships them. Nothing of BLAKE3 is
# kept in this repository. Run by `make deps`; a machine that already has the
# library at this version is not touched.
set -euo pipefail
prefix="${BLAKE3_PREFIX:-/usr/local}"
pc="$prefix/lib/pkgconfig/libblake3.pc"
version="$(dpkg-query -W -f='${Version}' librust-blake3-dev 2>/dev/null || true)"
if [[ -n "$version" && -f "$pc" && -f "$prefix/lib/libblake3.a" ]] && grep -qx "Version: ${version%%-*}" "$pc"; then
    exit 0
fi
"$(dirname "$0")/apt-ensure.sh" librust-blake3-dev
version="$(dpkg-query -W -f='${Version}' librust-blake3-dev)"
sources="$(dpkg -L librust-blake3-dev | grep '/c/blake3\.h$' | head -1 | xargs dirname)"
[[ -d "$sources" ]] || { echo "install-blake3: BLAKE3's C sources are not in librust-blake3-dev" >&2; exit 1; }
echo "installing BLAKE3 ${version%%-*} into $prefix from $sources"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
objects=()
for source in blake3.c blake3_dispatch.c blake3_portable.c \
              blake3_sse2_x86-64_unix.S blake3_sse41_x86-64_unix.S \
              blake3_avx2_x86-64_unix.S blake3_avx512_x86-64_unix.S; do
    "${CC:-cc}" -O3 -fPIC -c "$sources/$source" -o "$build/$source.o"
    objects+=("$build/$source.o")
done
ar rcs "$build/libblake3.a" "${objects[@]}"
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
$sudo install -d "$prefix/lib/pkgconfig" "$prefix/include"
$sudo install -m 644 "$build/libblake3.a" "$prefix/lib/libblake3.a"
$sudo install -m 644 "$sources/blake3.h" "$prefix/include/blake3.h"
cat > "$build/libblake3.pc" <<PC
prefix=$prefix
Name: libblake3
Description: BLAKE3 (the official C implementation, built from Debian's librust-blake3-dev)
Version: ${version%%-*}
Cflags: -I\${prefix}/include
Libs: -L\${prefix}/lib -lblake3
PC
$sudo install -m 644 "$build/libblake3.pc" "$pc"
