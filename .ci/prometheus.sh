#!/usr/bin/env bash
# Install Prometheus (Debian's `prometheus`: the server `prometheus` and `promtool`) for the exporter
# tests (tests/test_exporter*.py, tests/test_prometheus.py): they run `promtool check` on the shipped
# files and a real scrape, and start their own server on a free loopback port with a generated config.
# The packaged service must not run: the tests need no instance of it.
# Assumes `apt-get update` has run. Safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    # policy-rc.d exit 101 tells invoke-rc.d not to start services while we install;
    # we remove it again only if we made it.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    # Without recommends: the node exporter and its collectors are not needed here.
    apt-get install -y -q --no-install-recommends prometheus
fi

# Whatever happened above (an earlier install, a machine with systemd), make sure the packaged
# service is not running.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1; then
    service prometheus stop >/dev/null 2>&1 || true
fi

echo "prometheus.sh: $(prometheus --version 2>&1 | head -n 1)"
