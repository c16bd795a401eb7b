#!/bin/sh
# make deb: builds dist/gocd-proxy-sync_<version>-<revision>_<arch>.deb with dpkg-deb from a static-stdlib
# release build: Depends from dpkg-shlibdeps, the manual page and completions from deploy/gen-docs.sh, the
# changelog and DEP-5 copyright from deploy/debian/. SKIP_BUILD=1 reuses the binary in BIN.
set -eu
cd "$(dirname "$0")/.."

UPSTREAM=$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/ProxySyncSystem/Version.swift)
VERSION=$(dpkg-parsechangelog -l deploy/debian/changelog -S Version)
case $VERSION in
"$UPSTREAM"-*) ;;
*) echo "build-deb.sh: deploy/debian/changelog is at $VERSION, Version.swift at $UPSTREAM: add a changelog entry" >&2; exit 1 ;;
esac
ARCH=$(dpkg --print-architecture)
BIN=${BIN:-.build/release/gocd-proxy-sync}
# --disable-local-rpath: no RUNPATH $ORIGIN (the static-stdlib binary loads nothing from beside itself).
if [ -z "${SKIP_BUILD:-}" ]; then
    swift build -c release --static-swift-stdlib --disable-local-rpath
fi

PKG=$(mktemp -d)
trap 'rm -rf "$PKG"' EXIT
ROOTFS=$PKG/root
install -d -m 0755 "$ROOTFS/DEBIAN" "$ROOTFS/usr/bin" "$ROOTFS/lib/systemd/system" \
    "$ROOTFS/usr/share/doc/gocd-proxy-sync" "$ROOTFS/etc/gocd-proxy-sync" "$ROOTFS/usr/share/man/man8" \
    "$ROOTFS/usr/share/bash-completion/completions" "$ROOTFS/usr/share/zsh/vendor-completions" \
    "$ROOTFS/usr/share/fish/vendor_completions.d" "$ROOTFS/usr/share/lintian/overrides"
install -m 0755 "$BIN" "$ROOTFS/usr/bin/gocd-proxy-sync"
# Loads on every supported system (README, "Supported systems"): glibc 2.34, no DT_RELR, the sonames they ship.
deploy/check-abi.sh "$ROOTFS/usr/bin/gocd-proxy-sync" >&2
# As dh_strip does: no symbols, no .comment/.note sections.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOTFS/usr/bin/gocd-proxy-sync"

BIN="$ROOTFS/usr/bin/gocd-proxy-sync" deploy/gen-docs.sh "$PKG/docs"
install -m 0644 "$PKG/docs/gocd-proxy-sync.8.gz" "$ROOTFS/usr/share/man/man8/"
install -m 0644 "$PKG/docs/gocd-proxy-sync.bash" "$ROOTFS/usr/share/bash-completion/completions/gocd-proxy-sync"
install -m 0644 "$PKG/docs/_gocd-proxy-sync" "$ROOTFS/usr/share/zsh/vendor-completions/_gocd-proxy-sync"
install -m 0644 "$PKG/docs/gocd-proxy-sync.fish" "$ROOTFS/usr/share/fish/vendor_completions.d/gocd-proxy-sync.fish"
install -m 0644 deploy/debian/copyright "$ROOTFS/usr/share/doc/gocd-proxy-sync/copyright"
gzip -9nc deploy/debian/changelog >"$ROOTFS/usr/share/doc/gocd-proxy-sync/changelog.Debian.gz"
chmod 0644 "$ROOTFS/usr/share/doc/gocd-proxy-sync/changelog.Debian.gz"
install -m 0644 deploy/debian/lintian-overrides "$ROOTFS/usr/share/lintian/overrides/gocd-proxy-sync"
install -m 0644 deploy/gocd-proxy-sync.service "$ROOTFS/lib/systemd/system/gocd-proxy-sync.service"
install -m 0640 Config/config.example.toml "$ROOTFS/etc/gocd-proxy-sync/config.toml"
chmod 0750 "$ROOTFS/etc/gocd-proxy-sync"
install -m 0644 README.md "$ROOTFS/usr/share/doc/gocd-proxy-sync/README.md"
install -m 0644 Config/config.example.toml "$ROOTFS/usr/share/doc/gocd-proxy-sync/config.example.toml"
install -d -m 0755 "$ROOTFS/usr/lib/gocd-proxy-sync"
install -m 0755 deploy/certbot-certificate-command "$ROOTFS/usr/lib/gocd-proxy-sync/certbot-certificate-command"
install -d -m 0755 "$ROOTFS/usr/share/doc/gocd-proxy-sync/prometheus"
install -m 0644 deploy/prometheus/gocd-proxy-sync.rules.yml deploy/prometheus/gocd-proxy-sync.rules.test.yml \
    "$ROOTFS/usr/share/doc/gocd-proxy-sync/prometheus/"

# Depends: what the binary links, as dpkg-shlibdeps reads it from the shlibs/symbols files of the installed
# libraries. It wants a debian/control beside it: a minimal one in the temporary tree.
mkdir -p "$PKG/src/debian"
printf 'Source: gocd-proxy-sync\n\nPackage: gocd-proxy-sync\nArchitecture: any\n' >"$PKG/src/debian/control"
DEPENDS=$(cd "$PKG/src" && dpkg-shlibdeps -O "$ROOTFS/usr/bin/gocd-proxy-sync" | sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
echo "Depends: $DEPENDS" >&2

(cd "$ROOTFS" && find etc lib usr -type f ! -path etc/gocd-proxy-sync/config.toml -print0 | sort -z | xargs -0 md5sum) \
    >"$ROOTFS/DEBIAN/md5sums"
SIZE=$(du -sk --exclude=DEBIAN "$ROOTFS" | cut -f1)
cat >"$ROOTFS/DEBIAN/control" <<CONTROL
Package: gocd-proxy-sync
Version: $VERSION
Architecture: $ARCH
Maintainer: gocd-proxy-sync maintainers <maintainers@gocd-proxy-sync.invalid>
Depends: $DEPENDS
Recommends: nginx | apache2
Section: admin
Priority: optional
Installed-Size: $SIZE
Description: keep an NGINX or Apache reverse proxy in line with GoCD's site URLs
 A daemon for reverse-proxy hosts in front of a GoCD server. It polls GoCD's
 site-URLs API, validates the values, renders the proxy's site file, swaps it
 in atomically, runs the proxy's config test, reloads only on success and puts
 the previous file back on failure. Runs as the systemd unit gocd-proxy-sync,
 which is installed but not started: configure /etc/gocd-proxy-sync first.
CONTROL
echo /etc/gocd-proxy-sync/config.toml >"$ROOTFS/DEBIAN/conffiles"

# The unit is handled as dh_installsystemd --no-enable --no-start would (deb-systemd-helper and
# deb-systemd-invoke from init-system-helpers, which is Essential): never enabled or started by the package;
# stopped and disabled on remove, its enablement state forgotten on purge.
cat >"$ROOTFS/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    # Record the links an enable makes, so that remove can take them away again.
    deb-systemd-helper update-state gocd-proxy-sync.service >/dev/null || true
fi
# Tell systemd about the unit; never start it before it is configured.
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = configure ] && [ -z "$2" ]; then
    echo "gocd-proxy-sync: edit /etc/gocd-proxy-sync/config.toml, put the token in /etc/gocd-proxy-sync/token (chmod 600),"
    echo "then: gocd-proxy-sync check && systemctl enable --now gocd-proxy-sync"
fi
exit 0
SCRIPT
cat >"$ROOTFS/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ]; then
    if [ -d /run/systemd/system ]; then
        deb-systemd-invoke stop gocd-proxy-sync.service >/dev/null || true
    fi
    deb-systemd-helper disable gocd-proxy-sync.service >/dev/null || true
fi
exit 0
SCRIPT
cat >"$ROOTFS/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
    deb-systemd-helper purge gocd-proxy-sync.service >/dev/null || true
    rm -rf /var/lib/gocd-proxy-sync
fi
exit 0
SCRIPT
chmod 0755 "$ROOTFS/DEBIAN/postinst" "$ROOTFS/DEBIAN/prerm" "$ROOTFS/DEBIAN/postrm"

mkdir -p dist
OUT=dist/gocd-proxy-sync_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group --build "$ROOTFS" "$OUT" >/dev/null
echo "$OUT"
