#!/usr/bin/env bash
# Base layer: bring the image up to date, install a small set of base
# packages and enable their services, then drop the dnf cache so it isn't
# baked into the AMI.
#
# SECURITY_ONLY=1  apply only updates flagged as security fixes.
# BASE_PACKAGES    space-separated packages (default: amazon-ssm-agent chrony).
#
# Note: AL2023 repositories are locked to the AMI's release version, so this
# upgrades within that release; move releases by changing the source AMI.
set -euo pipefail

SECURITY_ONLY="${SECURITY_ONLY:-0}"
BASE_PACKAGES="${BASE_PACKAGES-amazon-ssm-agent chrony}"

if [ "${SECURITY_ONLY}" = "1" ]; then
    dnf -y upgrade --refresh --security
else
    dnf -y upgrade --refresh
fi

read -r -a packages <<< "${BASE_PACKAGES}"
if [ "${#packages[@]}" -gt 0 ]; then
    dnf -y install "${packages[@]}"
fi

# Enable (symlinks only; no running systemd needed) whichever of these exist,
# so overriding BASE_PACKAGES doesn't break the build.
for unit in amazon-ssm-agent.service chronyd.service; do
    if [ -n "$(systemctl list-unit-files --no-legend "${unit}" 2>/dev/null || true)" ]; then
        systemctl enable "${unit}"
    else
        echo "skip enabling ${unit}: not installed"
    fi
done

dnf clean all
rm -rf /var/cache/dnf
