#!/usr/bin/env bash
# Disable and mask network services that a baked server image doesn't need,
# reducing attack surface. Units that aren't installed are skipped.
# Override the list with DISABLE_SERVICES="unit1 unit2 ..." (space separated).
set -euo pipefail

DEFAULT_SERVICES="rpcbind.service rpcbind.socket cups.service cups.socket avahi-daemon.service avahi-daemon.socket postfix.service nfs-server.service telnet.socket"
DISABLE_SERVICES="${DISABLE_SERVICES:-${DEFAULT_SERVICES}}"

read -r -a services <<< "${DISABLE_SERVICES}"

for unit in "${services[@]}"; do
    # Bare names such as "cups" mean the .service unit.
    case "${unit}" in
        *.*) ;;
        *) unit="${unit}.service" ;;
    esac

    # list-unit-files works without a running systemd (image build chroot).
    # Captured rather than piped to grep -q to avoid SIGPIPE under pipefail.
    if [ -z "$(systemctl list-unit-files --no-legend "${unit}" 2>/dev/null || true)" ]; then
        echo "skip ${unit}: not installed"
        continue
    fi

    # Stopping requires a running systemd; disable/mask only touch symlinks.
    if [ -d /run/systemd/system ]; then
        systemctl stop "${unit}" || true
    fi
    # disable can fail for generated units; mask below still covers them.
    systemctl disable "${unit}" || true
    systemctl mask "${unit}"
    echo "masked ${unit}"
done
