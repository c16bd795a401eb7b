#!/bin/sh
# Installs gocd-proxy-sync on a systemd host: the binary, the unit and an example config.
# Idempotent; never overwrites an existing config. DESTDIR installs into a staging root.
#
#   swift build -c release --static-swift-stdlib
#   sudo deploy/install.sh                      # or: DESTDIR=/tmp/stage deploy/install.sh
#   BIN=path/to/gocd-proxy-sync deploy/install.sh
set -eu
cd "$(dirname "$0")/.."

DESTDIR=${DESTDIR:-}
BIN=${BIN:-.build/release/gocd-proxy-sync}
UNITDIR=${UNITDIR:-/lib/systemd/system}

if [ ! -x "$BIN" ]; then
    echo "install.sh: $BIN not found: build it first (swift build -c release --static-swift-stdlib) or set BIN=" >&2
    exit 1
fi

install -d -m 0755 "$DESTDIR/usr/bin" "$DESTDIR$UNITDIR"
install -m 0755 "$BIN" "$DESTDIR/usr/bin/gocd-proxy-sync"
install -m 0644 deploy/gocd-proxy-sync.service "$DESTDIR$UNITDIR/gocd-proxy-sync.service"
install -d -m 0755 "$DESTDIR/usr/lib/gocd-proxy-sync"
install -m 0755 deploy/certbot-certificate-command "$DESTDIR/usr/lib/gocd-proxy-sync/certbot-certificate-command"
install -d -m 0750 "$DESTDIR/etc/gocd-proxy-sync"
install -d -m 0755 "$DESTDIR/usr/share/doc/gocd-proxy-sync"
install -m 0644 README.md "$DESTDIR/usr/share/doc/gocd-proxy-sync/README.md"
install -m 0644 Config/config.example.toml "$DESTDIR/usr/share/doc/gocd-proxy-sync/config.example.toml"
install -d -m 0755 "$DESTDIR/usr/share/doc/gocd-proxy-sync/prometheus"
install -m 0644 deploy/prometheus/gocd-proxy-sync.rules.yml deploy/prometheus/gocd-proxy-sync.rules.test.yml \
    "$DESTDIR/usr/share/doc/gocd-proxy-sync/prometheus/"
if [ -e "$DESTDIR/etc/gocd-proxy-sync/config.toml" ]; then
    echo "kept existing $DESTDIR/etc/gocd-proxy-sync/config.toml"
else
    install -m 0640 Config/config.example.toml "$DESTDIR/etc/gocd-proxy-sync/config.toml"
    echo "installed example config $DESTDIR/etc/gocd-proxy-sync/config.toml: edit it before starting"
fi

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
fi

cat <<NEXT
Next:
  1. edit /etc/gocd-proxy-sync/config.toml (server_url, proxy kind/output/upstream, certificates)
  2. put an admin's GoCD access token in /etc/gocd-proxy-sync/token (chmod 600)
  3. gocd-proxy-sync check && gocd-proxy-sync once --dry-run
  4. systemctl enable --now gocd-proxy-sync && journalctl -u gocd-proxy-sync -f
NEXT
