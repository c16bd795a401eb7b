#!/bin/sh
# CI: builds the .deb, checks its contents, control fields and lintian, installs it with dpkg -i, runs the
# installed binary, checks Depends against its libraries, the man page, completions, copyright and changelog,
# verifies the installed unit, then removes the package again.
set -eu
cd "$(dirname "$0")/../.."

DEB=$(make -s deb | tail -1)
echo "built $DEB"
CONTENTS=$(dpkg-deb -c "$DEB")
for path in ./usr/bin/gocd-proxy-sync ./lib/systemd/system/gocd-proxy-sync.service ./etc/gocd-proxy-sync/config.toml \
    ./usr/share/doc/gocd-proxy-sync/prometheus/gocd-proxy-sync.rules.yml ./usr/share/man/man8/gocd-proxy-sync.8.gz \
    ./usr/share/bash-completion/completions/gocd-proxy-sync ./usr/share/zsh/vendor-completions/_gocd-proxy-sync \
    ./usr/share/fish/vendor_completions.d/gocd-proxy-sync.fish ./usr/share/doc/gocd-proxy-sync/copyright \
    ./usr/share/doc/gocd-proxy-sync/changelog.Debian.gz ./usr/share/lintian/overrides/gocd-proxy-sync; do
    echo "$CONTENTS" | grep -q " $path\$" || { echo "FAIL: $path missing from $DEB"; exit 1; }
done
[ "$(dpkg-deb -f "$DEB" Package)" = gocd-proxy-sync ] || { echo "FAIL: Package"; exit 1; }
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
echo "Depends: $DEPENDS"
dpkg-deb -e "$DEB" /tmp/gps-deb-control.$$
grep -qx /etc/gocd-proxy-sync/config.toml /tmp/gps-deb-control.$$/conffiles || { echo "FAIL: config is not a conffile"; exit 1; }
rm -rf /tmp/gps-deb-control.$$

# Lintian: no errors (the warnings we accept are overridden in deploy/debian/lintian-overrides, with reasons).
LINT=$(lintian --fail-on error "$DEB" 2>&1) || { echo "$LINT"; echo "FAIL: lintian reports errors"; exit 1; }
echo "$LINT" | grep -v '^running with root privileges' || true

dpkg -i "$DEB"
/usr/bin/gocd-proxy-sync --version
/usr/bin/gocd-proxy-sync --version | grep -q libcurl || { echo "FAIL: --version lacks the libcurl version"; exit 1; }
# The static-stdlib binary needs no Swift runtime.
if ldd /usr/bin/gocd-proxy-sync | grep -q libswift; then echo "FAIL: links the Swift runtime dynamically"; exit 1; fi
# Every library the binary itself names (ldd resolves them) comes from a package in Depends.
for lib in $(readelf -d /usr/bin/gocd-proxy-sync | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(ldd /usr/bin/gocd-proxy-sync | awk -v lib="$lib" '$1 == lib && $3 ~ /^\// { print $3 } $1 ~ "/" lib "$" { print $1 }' | head -1)
    [ -n "$path" ] || { echo "FAIL: ldd does not resolve $lib"; exit 1; }
    owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null) || { echo "FAIL: no package owns $path"; exit 1; }
    owner=${owner%%:*}
    echo "$DEPENDS" | tr ',' '\n' | sed 's/^ *//; s/[ (].*//' | grep -qx "$owner" ||
        { echo "FAIL: $lib ($path, package $owner) is not in Depends: $DEPENDS"; exit 1; }
done
# The installed binary loads on every supported system: glibc 2.34, GLIBCXX_3.4.29, CXXABI_1.3.13, no DT_RELR,
# only the sonames they all ship (deploy/check-abi.sh names the symbol or soname that broke it).
deploy/check-abi.sh /usr/bin/gocd-proxy-sync || { echo "FAIL: the installed binary does not meet the ABI ceilings"; exit 1; }
# Depends asks for no more than that: no package version above what the oldest supported Debian-family
# release ships for the ceilings (libc6 2.34, GCC 11's libstdc++6 and libgcc-s1, Ubuntu 22.04's libcurl4 7.81
# and libssl3 3.0.2).
for dep in $(echo "$DEPENDS" | tr -d ' ' | tr ',' '\n'); do
    pkg=${dep%%(*}
    version=$(echo "$dep" | sed -n 's/.*(>=\(.*\))/\1/p')
    case $pkg in
    libc6) ceiling=2.34 ;;
    libstdc++6 | libgcc-s1) ceiling=11 ;;
    libcurl4) ceiling=7.81.0 ;;
    libssl3) ceiling=3.0.2 ;;
    *) echo "FAIL: Depends names $pkg, which is not on the list of libraries every supported system ships: $DEPENDS"; exit 1 ;;
    esac
    if [ -n "$version" ] && dpkg --compare-versions "$version" gt "$ceiling"; then
        echo "FAIL: Depends asks for $pkg (>= $version), more than the binary needs ($pkg $ceiling): $DEPENDS"; exit 1
    fi
done
# The manual page renders without warnings and has the hand-written sections (read from the .deb itself: slim
# images exclude /usr/share/man from installs); the completions are in place.
MANPAGE=$(mktemp)
dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - ./usr/share/man/man8/gocd-proxy-sync.8.gz >"$MANPAGE"
MANERR=$(MANWIDTH=80 man --warnings -l "$MANPAGE" 2>&1 >/tmp/gps-man.$$)
rm -f "$MANPAGE"
[ -z "$MANERR" ] || { echo "FAIL: man -l warns: $MANERR"; exit 1; }
for section in NAME SYNOPSIS DESCRIPTION FILES "EXIT STATUS" SIGNALS "SEE ALSO"; do
    grep -q "^$section\$" /tmp/gps-man.$$ || { echo "FAIL: the manual page lacks $section"; exit 1; }
done
grep -q "SIGHUP" /tmp/gps-man.$$ && grep -q "/etc/gocd-proxy-sync/token" /tmp/gps-man.$$ || { echo "FAIL: manual page content"; exit 1; }
rm -f /tmp/gps-man.$$
bash -n /usr/share/bash-completion/completions/gocd-proxy-sync || { echo "FAIL: bash completion does not parse"; exit 1; }
bash -c '. /usr/share/bash-completion/completions/gocd-proxy-sync && complete -p gocd-proxy-sync' >/dev/null ||
    { echo "FAIL: bash completion registers nothing"; exit 1; }
grep -q '^#compdef gocd-proxy-sync' /usr/share/zsh/vendor-completions/_gocd-proxy-sync || { echo "FAIL: zsh completion"; exit 1; }
grep -q "^complete -c 'gocd-proxy-sync'" /usr/share/fish/vendor_completions.d/gocd-proxy-sync.fish || { echo "FAIL: fish completion"; exit 1; }
grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' /usr/share/doc/gocd-proxy-sync/copyright ||
    { echo "FAIL: copyright is not DEP-5"; exit 1; }
zcat /usr/share/doc/gocd-proxy-sync/changelog.Debian.gz | head -1 | grep -q "^gocd-proxy-sync ($(dpkg-deb -f "$DEB" Version))" ||
    { echo "FAIL: changelog.Debian.gz does not start with this version"; exit 1; }
ERR=$(systemd-analyze verify /lib/systemd/system/gocd-proxy-sync.service 2>&1) || { echo "$ERR"; exit 1; }
[ -z "$ERR" ] || { echo "FAIL: systemd-analyze verify printed: $ERR"; exit 1; }
# A conffile edited by the operator survives a reinstall.
echo "# edited" >> /etc/gocd-proxy-sync/config.toml
dpkg -i --force-confold "$DEB" >/dev/null
tail -1 /etc/gocd-proxy-sync/config.toml | grep -qx "# edited" || { echo "FAIL: conffile overwritten"; exit 1; }
dpkg --purge gocd-proxy-sync >/dev/null
echo "deb ok"
