#!/usr/bin/env bash
# Install net-snmp's agent (snmpd) and command-line tools (snmp) for the SNMP source tests.
# The tests start their own snmpd on a loopback high port from a generated config, so the
# system service must not run: it would hold UDP 161 and answer with the packaged config.
# Assumes `apt-get update` has run. Safe to run twice.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ! command -v snmpd >/dev/null 2>&1 || ! command -v snmpget >/dev/null 2>&1; then
    # policy-rc.d exit 101 tells invoke-rc.d not to start services while we install;
    # we remove it again only if we made it.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get install -y -q --no-install-recommends snmpd snmp
fi

# Whatever happened above (an earlier install, a machine with systemd), make sure the packaged
# service is not running.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now snmpd >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1; then
    service snmpd stop >/dev/null 2>&1 || true
fi
if [ -s /run/snmpd.pid ]; then
    kill "$(cat /run/snmpd.pid)" 2>/dev/null || true
fi

echo "snmpd.sh: $(snmpd -v | grep -m1 -i 'version' | tr -s ' ')"
