#!/usr/bin/env bash
# Patch the image and install the base packages of every container host.
#
# ARCH (from the recipe's matrix): x86_64 or arm64. Checked against the
# builder so that an instance type of the wrong architecture fails early.
# BASE_PACKAGES: space-separated packages to install and enable.
set -euo pipefail

: "${ARCH:?set ARCH (x86_64 or arm64)}"
BASE_PACKAGES="${BASE_PACKAGES:-amazon-ssm-agent chrony}"

case "${ARCH}" in
    x86_64) expected=x86_64 ;;
    arm64) expected=aarch64 ;;
    *) echo "error: unknown ARCH='${ARCH}'" >&2; exit 1 ;;
esac
machine="$(uname -m)"
if [ "${machine}" != "${expected}" ]; then
    echo "error: building the ${ARCH} image on a ${machine} instance" >&2
    exit 1
fi

dnf -y upgrade --refresh
# shellcheck disable=SC2086  # word splitting of the package list is intended
dnf -y install ${BASE_PACKAGES}
systemctl enable amazon-ssm-agent.service chronyd.service

echo "container base prepared for ${ARCH}"
