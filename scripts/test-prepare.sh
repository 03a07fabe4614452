#!/usr/bin/env bash
# Everything `npm test` needs beyond npm packages, each step cached so a warm run takes seconds:
# the Go-built control plane, contour and helm binaries, and the container image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-binaries.sh
if [ -f scripts/build-image.sh ]; then
  bash scripts/build-image.sh
fi
