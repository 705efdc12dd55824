#!/bin/sh
# Writes what the binaries say about themselves, for a package or an
# install by hand: their manual pages (gzipped, as Debian keeps them) and
# their bash, zsh and fish completions.
#
#   dist/gen-assets.sh [BIN_DIR [OUT_DIR]]
#
# BIN_DIR holds the built binaries (default target/release), OUT_DIR gets
# man/, bash/, zsh/ and fish/ (default target/assets).
set -eu
bin=${1:-target/release}
out=${2:-target/assets}

mkdir -p "$out/man" "$out/bash" "$out/zsh" "$out/fish"
for b in circologd circolog-tail circolog-ctl; do
    case $b in
        circologd) section=8 ;;
        *) section=1 ;;
    esac
    "$bin/$b" --generate man | gzip -9n > "$out/man/$b.$section.gz"
    "$bin/$b" --generate complete-bash > "$out/bash/$b"
    "$bin/$b" --generate complete-zsh > "$out/zsh/_$b"
    "$bin/$b" --generate complete-fish > "$out/fish/$b.fish"
done
