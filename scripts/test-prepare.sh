#!/usr/bin/env bash
# Everything `npm test` needs beyond npm packages, each step cached so a warm run takes seconds:
# the Go-built control plane, node, contour and helm binaries, the container image, and for the
# real node Debian's containerd, runc and CNI plugins and the images it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-binaries.sh
if [ -f scripts/build-image.sh ]; then
  bash scripts/build-image.sh
fi
bash scripts/node/install-packages.sh
# libfaketime: the certificate-lifecycle simulation (test/sim) handshakes at simulated times.
if ! [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1 ] && ! [ -e /usr/lib/faketime/libfaketimeMT.so.1 ]; then
  echo "installing Debian's faketime (apt-get update first)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends faketime >/dev/null
fi
bash scripts/node/build-images.sh
