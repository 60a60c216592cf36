#!/usr/bin/env bash
# Network-stack hardening via /etc/sysctl.d (CIS-style): no routing, no
# redirects or source routing, reverse-path filtering, SYN cookies and
# logging of martian packets. The drop-in is rewritten each run.
set -euo pipefail

CONF_FILE=/etc/sysctl.d/60-bakery-net-hardening.conf

tmp="$(mktemp)"
trap 'rm -f "${tmp}"' EXIT

cat > "${tmp}" <<'CONF'
# Managed by bakery (recipes/scripts/hardening/sysctl.sh). Do not edit by hand.
net.ipv4.ip_forward = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv4.conf.all.secure_redirects = 0
net.ipv4.conf.default.secure_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.conf.default.accept_source_route = 0
net.ipv4.conf.all.rp_filter = 1
net.ipv4.conf.default.rp_filter = 1
net.ipv4.conf.all.log_martians = 1
net.ipv4.conf.default.log_martians = 1
net.ipv4.tcp_syncookies = 1
net.ipv4.icmp_echo_ignore_broadcasts = 1
net.ipv4.icmp_ignore_bogus_error_responses = 1
net.ipv6.conf.all.forwarding = 0
net.ipv6.conf.all.accept_ra = 0
net.ipv6.conf.default.accept_ra = 0
net.ipv6.conf.all.accept_redirects = 0
net.ipv6.conf.default.accept_redirects = 0
net.ipv6.conf.all.accept_source_route = 0
net.ipv6.conf.default.accept_source_route = 0
CONF

install -o root -g root -m 0644 "${tmp}" "${CONF_FILE}"

# Apply now where possible. In a container (e.g. when testing the recipe in
# Docker) /proc/sys is read-only or namespaced and sysctl fails with
# "permission denied"; the file is still baked into the image and is applied
# by systemd-sysctl on the instance's first boot, so don't fail the build.
if ! sysctl --system >/dev/null; then
    echo "warning: could not apply sysctl settings now; they apply at boot" >&2
fi

echo "sysctl hardening written to ${CONF_FILE}"
