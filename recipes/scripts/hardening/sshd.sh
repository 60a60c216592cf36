#!/usr/bin/env bash
# Harden OpenSSH server via a drop-in under /etc/ssh/sshd_config.d (CIS-style).
# AL2023's sshd_config includes sshd_config.d/*.conf first and sshd uses the
# first value it sees for a keyword; "50-bakery-*" sorts before the vendor's
# 50-redhat.conf and cloud-init's 50-cloud-init.conf, so these settings win
# without editing vendor files. Rewriting the whole file keeps it idempotent.
set -euo pipefail

CONF_DIR=/etc/ssh/sshd_config.d
CONF_FILE="${CONF_DIR}/50-bakery-hardening.conf"

install -d -m 0755 "${CONF_DIR}"

tmp="$(mktemp)"
trap 'rm -f "${tmp}"' EXIT

cat > "${tmp}" <<'CONF'
# Managed by bakery (recipes/scripts/hardening/sshd.sh). Do not edit by hand.
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
HostbasedAuthentication no
IgnoreRhosts yes
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
PermitUserEnvironment no
MaxAuthTries 4
MaxSessions 10
MaxStartups 10:30:60
LoginGraceTime 60
ClientAliveInterval 300
ClientAliveCountMax 3
LogLevel VERBOSE
Banner none
CONF

install -o root -g root -m 0600 "${tmp}" "${CONF_FILE}"

# Validate the full effective configuration when the server is installed.
# Host keys are normally created on first boot (sshd-keygen), so they may be
# missing at build time; validate against a throwaway key rather than baking
# real host keys into the image.
SSHD="$(command -v sshd || echo /usr/sbin/sshd)"
if [ -x "${SSHD}" ]; then
    if compgen -G '/etc/ssh/ssh_host_*_key' >/dev/null; then
        "${SSHD}" -t
    else
        keydir="$(mktemp -d)"
        trap 'rm -f "${tmp}"; rm -rf "${keydir}"' EXIT
        ssh-keygen -q -t ed25519 -N '' -f "${keydir}/hostkey"
        "${SSHD}" -t -h "${keydir}/hostkey"
    fi
else
    echo "sshd not installed; skipping config validation" >&2
fi

echo "sshd hardening written to ${CONF_FILE}"
