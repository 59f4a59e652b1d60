#!/usr/bin/env bash
# Install systemd-analyze (Debian package `systemd`) for tests/test_systemd_unit.py, which runs
# `systemd-analyze verify` and `systemd-analyze security --offline=yes` on systemd/monitord.service.
# Only the offline tools are used: nothing here boots or starts systemd, and --no-install-recommends
# keeps systemd-sysv (which would make systemd the init) out. Assumes `apt-get update` has run.
# Safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v systemd-analyze >/dev/null 2>&1; then
    apt-get install -y -q --no-install-recommends systemd
fi

echo "systemd.sh: $(systemd-analyze --version | head -n 1)"
