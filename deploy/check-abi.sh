#!/bin/sh
# deploy/check-abi.sh BINARY: fails unless the (release) binary loads on every system in README's "Supported
# systems": glibc 2.34 (RHEL 9), GCC 11's libstdc++ and libgcc_s, OpenSSL 3.0, libcurl 4. Run by make release,
# deploy/build-deb.sh and deploy/build-rpm.sh on the binary they package, and by Tests/package/check-deb.sh and
# check-rpm.sh on the installed one. Each failure names the symbol or soname that broke the ceiling.
#   - no version need above GLIBC_2.34 (libc, libm, the loader), GLIBCXX_3.4.29, CXXABI_1.3.13, GCC_7.0.0
#     (libgcc_s), OPENSSL_3.0.0; no GLIBC_PRIVATE;
#   - no packed relative relocations: no DT_RELR in the dynamic section and no GLIBC_ABI_DT_RELR need (glibc
#     >= 2.36 only); the release link asks for that with -z nopack-relative-relocs (Package.swift), so a
#     toolchain whose default changes is overridden, and this catches it if the flag stops working;
#   - NEEDED only sonames all those systems ship.
set -eu
BIN=${1:?usage: deploy/check-abi.sh BINARY}
[ -f "$BIN" ] || { echo "check-abi: $BIN: no such file" >&2; exit 1; }
BIN=$(readlink -f "$BIN")
cd "$(dirname "$0")/.."
FAIL=0
fail() { echo "check-abi: $BIN: $*" >&2; FAIL=1; }

# The flag that keeps DT_RELR out, where the binary is built (absent beside an installed copy: skipped).
if [ -f Package.swift ]; then
    grep -q '"nopack-relative-relocs"' Package.swift ||
        fail "Package.swift's release linkerSettings lack -z nopack-relative-relocs"
    if grep -q '"pack-relative-relocs"' Package.swift; then fail "Package.swift asks for -z pack-relative-relocs"; fi
fi

# No DT_RELR (lld -z pack-relative-relocs) in the dynamic section.
DYN=$(readelf -d -W "$BIN")
if echo "$DYN" | grep -q '(RELR'; then fail "has packed relative relocations (DT_RELR): ld.so before glibc 2.36 cannot load it"; fi

# Sonames: what Debian 12/13, Ubuntu 22.04/24.04 and RHEL 9/10 all ship. libdl, libpthread, librt and libutil
# are empty stubs in glibc 2.34+, present on all of them.
for lib in $(echo "$DYN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    case $lib in
    libc.so.6 | libm.so.6 | ld-linux-x86-64.so.2 | ld-linux-aarch64.so.1 | libdl.so.2 | libpthread.so.0 | librt.so.1 | \
        libutil.so.1 | libcurl.so.4 | libssl.so.3 | libcrypto.so.3 | libstdc++.so.6 | libgcc_s.so.1) ;;
    *) fail "needs $lib, which is not on the list of sonames every supported system ships" ;;
    esac
done

# Version needs: "library version" pairs from .gnu.version_r.
NEEDS=$(readelf -V -W "$BIN" | awk '/File:/ { for (i = 1; i <= NF; i++) if ($i == "File:") file = $(i + 1) }
    /Name:/ && file != "" { for (i = 1; i <= NF; i++) if ($i == "Name:") print file, $(i + 1) }')
[ -n "$NEEDS" ] || fail "readelf -V shows no version needs (not a dynamically linked glibc binary?)"
# The symbols that ask for version $1, for the message.
symbols() { objdump -T "$BIN" | awk -v v="$1" '{ for (i = 1; i < NF; i++) { f = $i; gsub(/[()]/, "", f); if (f == v) print $NF } }' | sort -u | tr '\n' ' '; }
# above V CEILING: true when version V sorts after CEILING.
above() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$1" ]; }
echo "$NEEDS" | {
    bad=0
    while read -r file version; do
        case $version in
        GLIBC_ABI_DT_RELR) echo "check-abi: $BIN: needs GLIBC_ABI_DT_RELR ($file): packed relative relocations, glibc >= 2.36 only" >&2; bad=1; continue ;;
        GLIBC_PRIVATE) ceiling= ;;
        GLIBC_2.*) ceiling=GLIBC_2.34 ;;
        GLIBCXX_3.*) ceiling=GLIBCXX_3.4.29 ;;
        CXXABI_1.*) ceiling=CXXABI_1.3.13 ;;
        GCC_*) ceiling=GCC_7.0.0 ;;
        OPENSSL_3.*) ceiling=OPENSSL_3.0.0 ;;
        # Debian's and Ubuntu's libcurl version their symbols, RHEL's does not: ld.so accepts an unversioned
        # library for this need (README, "Supported systems"), and the .rpm filters it from Requires.
        CURL_OPENSSL_4) continue ;;
        *) echo "check-abi: $BIN: needs $version from $file, a version this check does not know: add its ceiling" >&2; bad=1; continue ;;
        esac
        if [ -z "$ceiling" ] || above "$version" "$ceiling"; then
            echo "check-abi: $BIN: needs $version from $file (above ${ceiling:-nothing}) for: $(symbols "$version")" >&2
            bad=1
        fi
    done
    exit $bad
} || FAIL=1

[ "$FAIL" = 0 ] || exit 1
HIGHEST=$(echo "$NEEDS" | awk '$2 ~ /^GLIBC_2\./ { print $2 }' | sort -V | tail -1)
echo "check-abi: $BIN: ok (highest glibc need $HIGHEST, no DT_RELR, sonames $(echo "$DYN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' '| sed 's/ $//'))"
