#!/usr/bin/env bash
# Install auditd and add CIS-style audit rules for identity, privilege,
# time, login and kernel-module events. Rules live in a drop-in under
# /etc/audit/rules.d, which augenrules merges into audit.rules at boot.
set -euo pipefail

RULES_FILE=/etc/audit/rules.d/50-bakery.rules

if ! rpm -q audit >/dev/null 2>&1; then
    dnf -y install audit
fi

install -d -m 0750 /etc/audit/rules.d

tmp="$(mktemp)"
trap 'rm -f "${tmp}"' EXIT

cat > "${tmp}" <<'RULES'
## Managed by bakery (recipes/scripts/hardening/auditd.sh). Do not edit by hand.

## Identity / account database changes
-w /etc/group -p wa -k identity
-w /etc/passwd -p wa -k identity
-w /etc/gshadow -p wa -k identity
-w /etc/shadow -p wa -k identity
-w /etc/security/opasswd -p wa -k identity

## Privilege escalation configuration
-w /etc/sudoers -p wa -k scope
-w /etc/sudoers.d -p wa -k scope

## Time changes
-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time-change
-a always,exit -F arch=b32 -S adjtimex,settimeofday,clock_settime -k time-change
-w /etc/localtime -p wa -k time-change

## Login / session records
-w /var/log/lastlog -p wa -k logins
-w /var/run/faillock -p wa -k logins
-w /var/run/utmp -p wa -k session
-w /var/log/wtmp -p wa -k session
-w /var/log/btmp -p wa -k session

## Kernel module loading / unloading
-w /usr/sbin/insmod -p x -k modules
-w /usr/sbin/rmmod -p x -k modules
-w /usr/sbin/modprobe -p x -k modules
-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k modules
RULES

install -o root -g root -m 0640 "${tmp}" "${RULES_FILE}"

# 'systemctl enable' only creates symlinks, so it works while building an
# image even when systemd is not PID 1. The rules are loaded at next boot.
systemctl enable auditd.service

echo "audit rules written to ${RULES_FILE}; auditd enabled"
