#!/usr/bin/env bash
# Installs what the `reference_verifier` bench compares against: the reference
# Interledger receipt verifier (npm `@coil/receipt-verifier`, interledger/receipt-verifier)
# into DIR, outside the repository, and a Redis server from Debian (apt-get; needs root).
# Nothing it installs is part of ILP Torrent or committed.
#
# Usage: bash tests/benches/reference_verifier_setup.sh DIR [VERSION]   (VERSION: 1.0.3)
# Then:  npm ci --prefix tests/interop
#        ILPT_REFERENCE_VERIFIER_DIR=DIR cargo bench -p ilpt-tests --bench reference_verifier
set -euo pipefail

dir=${1:?usage: $0 DIR [VERSION]}
version=${2:-1.0.3}

mkdir -p "$dir"
npm install --prefix "$dir" --no-audit --no-fund "@coil/receipt-verifier@$version"

if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update
        apt-get install -y redis-server
    else
        sudo apt-get update
        sudo apt-get install -y redis-server
    fi
fi
# Debian starts a system Redis on 6379; the bench runs its own on a free port instead.
echo "installed @coil/receipt-verifier@$version in $dir; redis-server: $(command -v redis-server)"
