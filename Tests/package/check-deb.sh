#!/bin/sh
# CI: builds the .deb, checks its contents and control fields, installs it with dpkg -i, runs the
# installed binary, verifies the installed unit, then removes the package again.
set -eu
cd "$(dirname "$0")/../.."

DEB=$(make -s deb | tail -1)
echo "built $DEB"
CONTENTS=$(dpkg-deb -c "$DEB")
for path in ./usr/bin/gocd-proxy-sync ./lib/systemd/system/gocd-proxy-sync.service ./etc/gocd-proxy-sync/config.toml \
    ./usr/share/doc/gocd-proxy-sync/prometheus/gocd-proxy-sync.rules.yml; do
    echo "$CONTENTS" | grep -q " $path\$" || { echo "FAIL: $path missing from $DEB"; exit 1; }
done
[ "$(dpkg-deb -f "$DEB" Package)" = gocd-proxy-sync ] || { echo "FAIL: Package"; exit 1; }
dpkg-deb -f "$DEB" Depends | grep -q libcurl4 || { echo "FAIL: Depends lacks libcurl4"; exit 1; }
dpkg-deb -e "$DEB" /tmp/gps-deb-control.$$
grep -qx /etc/gocd-proxy-sync/config.toml /tmp/gps-deb-control.$$/conffiles || { echo "FAIL: config is not a conffile"; exit 1; }
rm -rf /tmp/gps-deb-control.$$

dpkg -i "$DEB"
/usr/bin/gocd-proxy-sync --version
/usr/bin/gocd-proxy-sync --version | grep -q libcurl || { echo "FAIL: --version lacks the libcurl version"; exit 1; }
# The static-stdlib binary needs no Swift runtime.
if ldd /usr/bin/gocd-proxy-sync | grep -q libswift; then echo "FAIL: links the Swift runtime dynamically"; exit 1; fi
ERR=$(systemd-analyze verify /lib/systemd/system/gocd-proxy-sync.service 2>&1) || { echo "$ERR"; exit 1; }
[ -z "$ERR" ] || { echo "FAIL: systemd-analyze verify printed: $ERR"; exit 1; }
# A conffile edited by the operator survives a reinstall.
echo "# edited" >> /etc/gocd-proxy-sync/config.toml
dpkg -i --force-confold "$DEB" >/dev/null
tail -1 /etc/gocd-proxy-sync/config.toml | grep -qx "# edited" || { echo "FAIL: conffile overwritten"; exit 1; }
dpkg --purge gocd-proxy-sync >/dev/null
echo "deb ok"
