#!/bin/sh
# make rpm: builds dist/gocd-proxy-sync-<version>-1.<arch>.rpm with rpmbuild (deploy/rpm/gocd-proxy-sync.spec)
# from the same static-stdlib release build as the .deb, with RHEL's paths. SKIP_BUILD=1 reuses BIN.
set -eu
cd "$(dirname "$0")/.."

VERSION=$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/ProxySyncSystem/Version.swift)
BIN=${BIN:-.build/release/gocd-proxy-sync}
# --disable-local-rpath: no RUNPATH $ORIGIN (the static-stdlib binary loads nothing from beside itself).
if [ -z "${SKIP_BUILD:-}" ]; then
    swift build -c release --static-swift-stdlib --disable-local-rpath
fi
grep -q -- "- $VERSION-1\$" deploy/rpm/gocd-proxy-sync.spec ||
    { echo "build-rpm.sh: the spec's %changelog has no entry for $VERSION-1" >&2; exit 1; }

TOP=$(mktemp -d)
trap 'rm -rf "$TOP"' EXIT
STAGE=$TOP/stage
mkdir -p "$STAGE"
install -m 0755 "$BIN" "$STAGE/gocd-proxy-sync"
# Loads on every supported system (README, "Supported systems"): glibc 2.34, no DT_RELR, the sonames they ship.
deploy/check-abi.sh "$STAGE/gocd-proxy-sync" >&2
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$STAGE/gocd-proxy-sync"
BIN="$STAGE/gocd-proxy-sync" deploy/gen-docs.sh "$STAGE"
cp deploy/gocd-proxy-sync.service README.md deploy/prometheus/gocd-proxy-sync.rules.yml \
    deploy/prometheus/gocd-proxy-sync.rules.test.yml deploy/certbot-certificate-command "$STAGE/"
cp Config/config.example.toml "$STAGE/config.toml"

rpmbuild -bb --quiet \
    --define "_topdir $TOP/rpmbuild" \
    --define "stage $STAGE" \
    --define "pkg_version $VERSION" \
    --define "packager gocd-proxy-sync maintainers <maintainers@gocd-proxy-sync.invalid>" \
    --define "_build_id_links none" \
    deploy/rpm/gocd-proxy-sync.spec >&2
mkdir -p dist
RPM=$(find "$TOP/rpmbuild/RPMS" -name '*.rpm' | head -1)
cp "$RPM" dist/
echo "dist/$(basename "$RPM")"
