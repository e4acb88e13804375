#!/usr/bin/env bash
# Installs the Debian packages Rill needs to build, test and run.
# Idempotent: only packages that are missing are installed, and apt is not
# touched at all when everything is present. Needs root (or sudo) when it
# has something to install.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    clang libclang-rt-14-dev
    liblmdb-dev
    libprotobuf-c-dev protobuf-c-compiler
    libnng-dev
    libcriterion-dev
    libinih-dev
    libxxhash-dev
    libcjson-dev
    libzstd-dev
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
