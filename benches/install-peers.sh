#!/bin/sh
# Installs the syslog daemons the benchmark compares circologd with:
# busybox syslogd, rsyslog and syslog-ng, from Debian's packages.
#
# The three packages conflict with one another (each provides
# `system-log-daemon`), and installing any of them the usual way also
# installs a service that takes over the host's /dev/log. So this script
# installs none of them as packages: it downloads each .deb and unpacks it
# into a private prefix, and installs with apt only the libraries they link
# to. Nothing is started, no service is registered, /dev/log is untouched.
#
#   sudo sh benches/install-peers.sh            # into /opt/circolog-peers
#   CIRCOLOG_PEERS=/some/dir sh benches/install-peers.sh
#
# The benchmark looks for the peers in the same prefix (CIRCOLOG_PEERS,
# default /opt/circolog-peers), then on PATH.
set -eu

PREFIX=${CIRCOLOG_PEERS:-/opt/circolog-peers}
PACKAGES="busybox rsyslog syslog-ng-core"

if [ "$(id -u)" != 0 ]; then
    echo "install-peers: run as root (apt-get installs the peers' libraries)" >&2
    exit 1
fi

apt-get update -qq

# The shared libraries each package depends on (plain `Depends:` lines only;
# alternatives such as `sysvinit-utils | lsb-base` are init-script helpers
# that an unpacked daemon does not need). Libraries already installed are
# left as they are.
deps=""
for p in $PACKAGES; do
    deps="$deps $(apt-cache depends --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "$p" |
        awk '$1 == "Depends:" && $2 ~ /^lib/ { print $2 }')"
done
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends --no-upgrade $deps

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$PREFIX"
cd "$work"
for p in $PACKAGES; do
    # apt-get download writes as the unprivileged _apt user when it can.
    chmod 777 "$work"
    apt-get download -qq "$p"
    rm -rf "${PREFIX:?}/$p"
    dpkg-deb -x "$work"/"$p"_*.deb "$PREFIX/$p"
done

# syslog-ng's own shared library sits next to its modules' parent directory;
# the benchmark points LD_LIBRARY_PATH and --module-path there.
echo "install-peers: unpacked into $PREFIX:"
ls -1 "$PREFIX/busybox/bin/busybox" \
    "$PREFIX/rsyslog/usr/sbin/rsyslogd" \
    "$PREFIX/syslog-ng-core/usr/sbin/syslog-ng"
