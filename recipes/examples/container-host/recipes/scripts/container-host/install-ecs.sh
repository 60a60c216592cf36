#!/usr/bin/env bash
# Install Docker and the ECS agent (the ecs-init package) and enable both for
# the instance's first boot, with the agent configuration the file step
# uploaded to /tmp/ecs.config.
#
# ECS_AGENT_VERSION (from the recipe parameter ecs_agent_version): e.g. 1.93.0;
# the trailing glob matches the release suffix (ecs-init-1.93.0-1.amzn2023).
set -euo pipefail

: "${ECS_AGENT_VERSION:?set ECS_AGENT_VERSION, e.g. 1.93.0}"
SRC_CONFIG=/tmp/ecs.config

dnf -y install docker "ecs-init-${ECS_AGENT_VERSION}*"

install -d -o root -g root -m 0755 /etc/ecs
if [ -f "${SRC_CONFIG}" ]; then
    install -o root -g root -m 0644 "${SRC_CONFIG}" /etc/ecs/ecs.config
else
    echo "error: ${SRC_CONFIG} not found; upload it with a file step first" >&2
    exit 1
fi

# Symlinks only: works at build time without a running systemd.
systemctl enable docker.service ecs.service

echo "ecs-init ${ECS_AGENT_VERSION} installed (${ACCEL:-standard}, ${ARCH:-unknown})"
