#!/usr/bin/env bash
# Install headless Chromium and a CJK font for the HTML report test, which renders the report to a
# PNG (tests/reports/test_chromium.py). Without the font the Chinese headings would draw as boxes.
# Assumes `apt-get update` has run. Safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    apt-get install -y -q --no-install-recommends chromium fonts-noto-cjk fontconfig
fi
echo "chromium.sh: $(chromium --version 2>/dev/null || echo 'chromium missing')"
