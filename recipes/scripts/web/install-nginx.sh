#!/usr/bin/env bash
# Install and enable nginx for the web layer. If an earlier Packer file step
# uploaded /tmp/nginx.conf it replaces the packaged /etc/nginx/nginx.conf,
# and the result is validated with `nginx -t` before the image is accepted.
#
# NGINX_VERSION (optional): pin a version, e.g. "1.24.0". AL2023 repositories
# are versioned by release, so the distro nginx is already reproducible for a
# given AMI release and gets security fixes -- prefer it. Pin only when an app
# needs a specific version; the trailing glob matches the release suffix
# (e.g. nginx-1.24.0-1.amzn2023.0.2).
set -euo pipefail

NGINX_VERSION="${NGINX_VERSION:-}"
SRC_CONF=/tmp/nginx.conf

if [ -n "${NGINX_VERSION}" ]; then
    dnf -y install "nginx-${NGINX_VERSION}*"
else
    dnf -y install nginx
fi

if [ -f "${SRC_CONF}" ]; then
    install -o root -g root -m 0644 "${SRC_CONF}" /etc/nginx/nginx.conf
    echo "installed ${SRC_CONF} as /etc/nginx/nginx.conf"
else
    echo "no ${SRC_CONF} uploaded; keeping packaged nginx.conf"
fi

nginx -t

# Symlink-only operation; works at build time without a running systemd.
systemctl enable nginx.service

nginx -v
