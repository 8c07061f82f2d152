#!/usr/bin/env bash
# Install Debian's redis-server when it is missing; safe to run any number of times.
# The storage contract tests start their own redis-server processes on free loopback ports; the
# package's own service is not needed (and is not started in containers without systemd).
set -euo pipefail

if command -v redis-server >/dev/null; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_redis: redis-server is missing and this is not root; run: sudo apt-get install redis-server" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
redis-server --version
