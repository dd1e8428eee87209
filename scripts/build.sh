#!/usr/bin/env bash
# Builds a release binary of mirrorscope with its version stamped from git
# (`git describe`), so reports name the build they came from.
# Usage: scripts/build.sh [OUTPUT]   (default ./mirrorscope)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-./mirrorscope}
ver=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$ver" -o "$out" ./cmd/mirrorscope
echo "built $out ($ver)"
