#!/bin/sh
# CI: builds the .rpm (make rpm), runs rpmlint (accepted findings are filtered, with reasons, in
# deploy/rpm/rpmlint.toml), checks its requirements, installs it into a scratch root with
# rpm --root --nodeps (Debian's rpm; the scratch root has no /bin/sh, so --noscripts, and the scriptlets are
# syntax-checked instead), and checks the files: RHEL paths, modes, the conffile, man page and completions.
set -eu
cd "$(dirname "$0")/../.."

RPM=$(make -s rpm | tail -1)
echo "built $RPM"
rpmlint -c deploy/rpm/rpmlint.toml "$RPM" deploy/rpm/gocd-proxy-sync.spec || { echo "FAIL: rpmlint"; exit 1; }

REQUIRES=$(rpm -qp --requires "$RPM" 2>/dev/null)
for lib in libcurl.so.4 libcrypto.so.3 libc.so.6 libstdc++.so.6 libgcc_s.so.1; do
    echo "$REQUIRES" | grep -q "^$lib()(64bit)\$" || { echo "FAIL: Requires lacks $lib: $REQUIRES"; exit 1; }
done
if echo "$REQUIRES" | grep -q libswift; then echo "FAIL: requires the Swift runtime"; exit 1; fi
# Requires asks for no more than RHEL 9 provides: glibc symbol versions up to 2.34, no GLIBC_ABI_DT_RELR, no
# libcurl symbol version (RHEL's libcurl defines none), OpenSSL 3.0.0, GCC 11's libstdc++ and libgcc_s.
echo "$REQUIRES" | while read -r req; do
    version=$(echo "$req" | sed -n 's/^[^(]*(\([^)]*\))(64bit)$/\1/p')
    case $version in
    "" | GLIBC_2.* | GLIBCXX_3.* | CXXABI_1.* | GCC_* | OPENSSL_3.*)
        case $version in
        GLIBC_2.*) ceiling=GLIBC_2.34 ;; GLIBCXX_3.*) ceiling=GLIBCXX_3.4.29 ;; CXXABI_1.*) ceiling=CXXABI_1.3.13 ;;
        GCC_*) ceiling=GCC_7.0.0 ;; OPENSSL_3.*) ceiling=OPENSSL_3.0.0 ;; *) ceiling= ;;
        esac
        if [ -n "$ceiling" ] && [ "$version" != "$ceiling" ] &&
            [ "$(printf '%s\n%s\n' "$version" "$ceiling" | sort -V | tail -1)" = "$version" ]; then
            echo "FAIL: Requires $req, above $ceiling (RHEL 9)"; exit 1
        fi ;;
    *) echo "FAIL: Requires $req, which RHEL 9 does not provide"; exit 1 ;;
    esac
done || exit 1
rpm -qp --configfiles "$RPM" 2>/dev/null | grep -qx /etc/gocd-proxy-sync/config.toml || { echo "FAIL: config is not %config"; exit 1; }
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$RPM" 2>/dev/null | grep -qx 'cn /etc/gocd-proxy-sync/config.toml' ||
    { echo "FAIL: config is not %config(noreplace)"; exit 1; }
SCRIPTS=$(mktemp)
for tag in POSTIN PREUN POSTUN; do
    rpm -qp --qf "%{$tag}\n" "$RPM" 2>/dev/null >"$SCRIPTS"
    sh -n "$SCRIPTS" || { echo "FAIL: %$tag does not parse"; exit 1; }
done
rm -f "$SCRIPTS"

ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
rpm --root "$ROOT" --dbpath /var/lib/rpm --initdb
rpm --root "$ROOT" --dbpath /var/lib/rpm --nodeps --noscripts -i "$RPM" 2>&1 | grep -v -e 'use Alien instead' -e 'assuming you know what you are doing' || true
rpm --root "$ROOT" --dbpath /var/lib/rpm -q gocd-proxy-sync >/dev/null || { echo "FAIL: not in the scratch root's database"; exit 1; }
check() { # mode path
    [ -e "$ROOT$2" ] || { echo "FAIL: $2 not installed"; exit 1; }
    [ "$(stat -c %a "$ROOT$2")" = "$1" ] || { echo "FAIL: $2 has mode $(stat -c %a "$ROOT$2"), not $1"; exit 1; }
}
check 755 /usr/bin/gocd-proxy-sync
# The packaged binary loads on every supported system (deploy/check-abi.sh names what broke it).
deploy/check-abi.sh "$ROOT/usr/bin/gocd-proxy-sync" || { echo "FAIL: the packaged binary does not meet the ABI ceilings"; exit 1; }
check 644 /usr/lib/systemd/system/gocd-proxy-sync.service
check 750 /etc/gocd-proxy-sync
check 640 /etc/gocd-proxy-sync/config.toml
check 644 /usr/share/man/man8/gocd-proxy-sync.8.gz
check 644 /usr/share/bash-completion/completions/gocd-proxy-sync
check 644 /usr/share/zsh/site-functions/_gocd-proxy-sync
check 644 /usr/share/fish/vendor_completions.d/gocd-proxy-sync.fish
check 644 /usr/share/doc/gocd-proxy-sync/README.md
check 644 /usr/share/doc/gocd-proxy-sync/prometheus/gocd-proxy-sync.rules.yml
"$ROOT/usr/bin/gocd-proxy-sync" --version | grep -q "^gocd-proxy-sync $(rpm -qp --qf '%{VERSION}' "$RPM" 2>/dev/null) " ||
    { echo "FAIL: the installed binary's --version"; exit 1; }
cmp -s "$ROOT/usr/lib/systemd/system/gocd-proxy-sync.service" deploy/gocd-proxy-sync.service || { echo "FAIL: unit differs"; exit 1; }
cmp -s "$ROOT/etc/gocd-proxy-sync/config.toml" Config/config.example.toml || { echo "FAIL: config differs"; exit 1; }
MANERR=$(MANWIDTH=80 man --warnings -l "$ROOT/usr/share/man/man8/gocd-proxy-sync.8.gz" 2>&1 >/dev/null)
[ -z "$MANERR" ] || { echo "FAIL: man -l warns: $MANERR"; exit 1; }
bash -n "$ROOT/usr/share/bash-completion/completions/gocd-proxy-sync" || { echo "FAIL: bash completion does not parse"; exit 1; }
echo "rpm ok"
