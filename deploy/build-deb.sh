#!/bin/sh
# make deb: builds dist/gocd-proxy-sync_<version>_<arch>.deb with dpkg-deb from a static-stdlib release build.
set -eu
cd "$(dirname "$0")/.."

VERSION=$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/ProxySyncSystem/Version.swift)
ARCH=$(dpkg --print-architecture)
BIN=${BIN:-.build/release/gocd-proxy-sync}
if [ -z "${SKIP_BUILD:-}" ]; then
    swift build -c release --static-swift-stdlib
fi

PKG=$(mktemp -d)
trap 'rm -rf "$PKG"' EXIT
ROOTFS=$PKG/root
install -d -m 0755 "$ROOTFS/DEBIAN" "$ROOTFS/usr/bin" "$ROOTFS/lib/systemd/system" \
    "$ROOTFS/usr/share/doc/gocd-proxy-sync" "$ROOTFS/etc/gocd-proxy-sync"
install -m 0755 "$BIN" "$ROOTFS/usr/bin/gocd-proxy-sync"
strip --strip-unneeded "$ROOTFS/usr/bin/gocd-proxy-sync" 2>/dev/null || true
install -m 0644 deploy/gocd-proxy-sync.service "$ROOTFS/lib/systemd/system/gocd-proxy-sync.service"
install -m 0640 Config/config.example.toml "$ROOTFS/etc/gocd-proxy-sync/config.toml"
chmod 0750 "$ROOTFS/etc/gocd-proxy-sync"
install -m 0644 README.md "$ROOTFS/usr/share/doc/gocd-proxy-sync/README.md"
install -m 0644 Config/config.example.toml "$ROOTFS/usr/share/doc/gocd-proxy-sync/config.example.toml"
install -d -m 0755 "$ROOTFS/usr/share/doc/gocd-proxy-sync/prometheus"
install -m 0644 deploy/prometheus/gocd-proxy-sync.rules.yml deploy/prometheus/gocd-proxy-sync.rules.test.yml \
    "$ROOTFS/usr/share/doc/gocd-proxy-sync/prometheus/"

SIZE=$(du -sk "$ROOTFS" | cut -f1)
cat >"$ROOTFS/DEBIAN/control" <<CONTROL
Package: gocd-proxy-sync
Version: $VERSION
Architecture: $ARCH
Maintainer: gocd-proxy-sync maintainers <maintainers@gocd-proxy-sync.invalid>
Depends: libc6 (>= 2.36), libcurl4 (>= 7.85.0)
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

cat >"$ROOTFS/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
# Tell systemd about the unit; never start it before it is configured.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
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
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl stop gocd-proxy-sync.service >/dev/null 2>&1 || true
    systemctl disable gocd-proxy-sync.service >/dev/null 2>&1 || true
fi
exit 0
SCRIPT
cat >"$ROOTFS/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
    rm -rf /var/lib/gocd-proxy-sync
fi
exit 0
SCRIPT
chmod 0755 "$ROOTFS/DEBIAN/postinst" "$ROOTFS/DEBIAN/prerm" "$ROOTFS/DEBIAN/postrm"

mkdir -p dist
OUT=dist/gocd-proxy-sync_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group --build "$ROOTFS" "$OUT" >/dev/null
echo "$OUT"
