#!/usr/bin/env bash
# Builds the Debian package (cargo deb, from a release build and the pages
# and completions the binaries generate), installs it with dpkg, checks that
# what it installed works where a user looks for it, and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --bins
bash dist/gen-assets.sh target/release target/assets
deb=$(cargo deb --no-build --locked --output target/debian/ 2>/dev/null | tail -n 1)
[ -f "$deb" ] || { echo "cargo deb made no package ($deb)" >&2; exit 1; }

# Not one already installed: this package, or nothing.
if dpkg -s circolog >/dev/null 2>&1; then
    dpkg --purge circolog >/dev/null
fi
dpkg -i "$deb" >/dev/null 2>&1 || { dpkg -i "$deb"; exit 1; }
trap 'dpkg --purge circolog >/dev/null 2>&1 || true' EXIT

fail() { echo "deb: $*" >&2; exit 1; }
version=$(/usr/bin/circologd --version) || fail "/usr/bin/circologd --version failed"
[ "$version" = "circologd $(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)" ] ||
    fail "circologd --version says: $version"
/usr/bin/circolog-tail --version >/dev/null || fail "circolog-tail"
/usr/bin/circolog-ctl --version >/dev/null || fail "circolog-ctl"
man -w circologd | grep -q '/usr/share/man/man8/circologd.8.gz' || fail "man circologd"
man -w circolog-tail | grep -q 'man1/circolog-tail.1.gz' || fail "man circolog-tail"
man circologd 2>/dev/null | grep -q 'SIGUSR1' || fail "the page does not render"
[ -f /usr/share/bash-completion/completions/circolog-tail ] || fail "bash completion"
[ -f /usr/share/zsh/vendor-completions/_circolog-ctl ] || fail "zsh completion"
[ -f /usr/share/fish/vendor_completions.d/circologd.fish ] || fail "fish completion"
[ -f /lib/systemd/system/circologd.socket ] || fail "units"
grep -qx 'net.unix.max_dgram_qlen = 512' /usr/lib/sysctl.d/30-circolog.conf || fail "sysctl.d file"
[ -f /lib/systemd/system/circologd-journal.service ] || fail "circologd-journal.service"
[ -f /usr/share/circolog/circolog-forward.conf ] || fail "journald's drop-in"
# Installing takes no host's syslog.service, and turns no forwarding on.
if readlink /etc/systemd/system/syslog.service 2>/dev/null | grep -q circologd; then
    fail "the package made circologd the host's syslog.service"
fi
[ ! -e /etc/systemd/journald.conf.d/circolog-forward.conf ] || fail "the package turned journald's forward on"
getent group circolog >/dev/null || fail "no circolog group"

dpkg -r circolog >/dev/null
trap - EXIT
[ ! -e /usr/bin/circologd ] || fail "dpkg -r left /usr/bin/circologd"
# And what removing keeps (the socket's enablement) goes too, so that the
# machine is as it was.
dpkg --purge circolog >/dev/null
[ ! -e /etc/systemd/system/sockets.target.wants/circologd.socket ] ||
    fail "purging left circologd.socket enabled"
echo "deb: $(basename "$deb") installed, tried and removed"
