#!/usr/bin/env bash
# Install Debian's chromium when /usr/bin/chromium is missing; safe to run any number of times.
# The extension's real-browser tests drive this binary through Playwright (no downloaded browser builds).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: /usr/bin/chromium is missing and this is not root; run: sudo apt-get install chromium" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# fonts-noto-cjk so the panel's Chinese text renders in screenshots instead of boxes.
apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
/usr/bin/chromium --version 2>/dev/null  # its wrapper script warns on stderr; harmless
