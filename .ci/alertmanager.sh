#!/usr/bin/env bash
# Install Prometheus Alertmanager (Debian's prometheus-alertmanager) for the notifier tests
# (tests/alerting/test_notify_alertmanager.py), which start their own instance on free loopback ports
# with a generated config. The packaged service must not run: the tests need no instance of it.
# Assumes `apt-get update` has run. Safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v prometheus-alertmanager >/dev/null 2>&1; then
    # policy-rc.d exit 101 tells invoke-rc.d not to start services while we install;
    # we remove it again only if we made it.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -q --no-install-recommends prometheus-alertmanager
fi

# Whatever happened above (an earlier install, a machine with systemd), make sure the packaged
# service is not running.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus-alertmanager >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1; then
    service prometheus-alertmanager stop >/dev/null 2>&1 || true
fi

echo "alertmanager.sh: $(prometheus-alertmanager --version 2>&1 | head -n 1)"
