#!/usr/bin/env bash
# Image hygiene, run last in every build (as root): nothing of the build may stay in the image.
# Removes SSH host keys (regenerated at first boot), the build user's authorized_keys, shell
# histories, cloud-init state, the machine id, package caches, temporary files and bakery's own
# step files. BAKERY_BUILD_USER names the user Packer connected as.
set -euo pipefail

build_user="${BAKERY_BUILD_USER:-}"

rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub

if [ -n "$build_user" ]; then
    home=$(getent passwd "$build_user" | cut -d: -f6 || true)
    if [ -n "$home" ] && [ -f "$home/.ssh/authorized_keys" ]; then
        : > "$home/.ssh/authorized_keys"
    fi
fi
: > /root/.ssh/authorized_keys 2>/dev/null || true

for home in /root /home/*; do
    rm -f "$home/.bash_history" "$home/.zsh_history" "$home/.python_history" \
        "$home/.lesshst" "$home/.viminfo" 2>/dev/null || true
done

if command -v cloud-init >/dev/null 2>&1; then
    cloud-init clean --logs
fi

# An empty (not missing) machine-id makes systemd generate a new one at first boot.
if [ -f /etc/machine-id ]; then
    : > /etc/machine-id
fi
rm -f /var/lib/dbus/machine-id

if command -v dnf >/dev/null 2>&1; then
    dnf clean all
elif command -v yum >/dev/null 2>&1; then
    yum clean all
elif command -v apt-get >/dev/null 2>&1; then
    apt-get clean
    rm -rf /var/lib/apt/lists/*
fi

rm -rf /tmp/* /tmp/.[!.]* /var/tmp/* /var/tmp/.[!.]* 2>/dev/null || true
history -c 2>/dev/null || true
echo "bakery hygiene: done"
