#!/bin/sh
# Boots systemd in a container made from this machine's own root (an overlay over /, writes in a tmpfs),
# with the files in $STAGE copied over the top. Runs in its own mount namespace; exits when the
# container powers off. /dev is left empty for systemd-nspawn to populate, /etc/machine-id empty so the booted
# systemd makes its own; --register=no and --keep-unit keep it out of machined and in the caller's scope.
#
#   unshare -m Tests/systemd/boot-container.sh WORKDIR STAGE MACHINE_NAME
set -eu
WORK=$1
STAGE=$2
NAME=$3

mount --make-rprivate /
mkdir -p "$WORK/lower" "$WORK/rw" "$WORK/merged"
mount --bind / "$WORK/lower"
mount -t tmpfs -o size=2g tmpfs "$WORK/rw"
mkdir -p "$WORK/rw/upper" "$WORK/rw/work"
mount -t overlay overlay -o "lowerdir=$WORK/lower,upperdir=$WORK/rw/upper,workdir=$WORK/rw/work" "$WORK/merged"
M=$WORK/merged
rm -rf "$M"/dev/* 2>/dev/null || true

# The test's files: binary, unit, config, certificates, the GoCD stand-in.
tar -C "$STAGE" -cf - . | tar -C "$M" -xf - --keep-directory-symlink

# Only what the test wants runs inside: mask the host's own services.
for unit in apache2 postgresql docker containerd ssh cron e2scrub_reap systemd-timesyncd apt-daily.timer \
            apt-daily-upgrade.timer man-db.timer fstrim.timer e2scrub_all.timer dpkg-db-backup.timer \
            systemd-networkd-wait-online getty@tty1 console-getty prometheus prometheus-node-exporter; do
    case $unit in *.*) file=$unit ;; *) file=$unit.service ;; esac
    ln -sf /dev/null "$M/etc/systemd/system/$file"
done
# nginx starts only when the test asks.
rm -f "$M/etc/systemd/system/multi-user.target.wants/nginx.service"
rm -rf "$M/var/lib/gocd-proxy-sync" "$M/etc/nginx/conf.d/gocd.conf"
: > "$M/etc/machine-id"

exec systemd-nspawn -D "$M" --boot --private-network --register=no --keep-unit --console=passive -M "$NAME"
