#!/usr/bin/env bash
# Install the sample "worker" service: a locked-down system user, a tiny
# worker program in /opt/worker, and the systemd unit uploaded by an earlier
# Packer file step to /tmp/worker.service. The service is enabled so it
# starts on the instance's first boot.
set -euo pipefail

SRC_UNIT=/tmp/worker.service
UNIT=/etc/systemd/system/worker.service

# System user without a login shell; skip if it already exists.
if ! id -u worker >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home \
        --home-dir /opt/worker --shell /usr/sbin/nologin worker
fi

install -d -o root -g root -m 0755 /opt/worker

# The program is owned by root so the service user cannot modify it.
tmp="$(mktemp)"
trap 'rm -f "${tmp}"' EXIT
cat > "${tmp}" <<'WORKER'
#!/usr/bin/env bash
# bakery sample worker: does one unit of work every WORKER_INTERVAL seconds.
# Output goes to stdout, which systemd sends to the journal.
set -euo pipefail

interval="${WORKER_INTERVAL:-30}"
case "${interval}" in
    ''|*[!0-9]*|0) echo "invalid WORKER_INTERVAL='${interval}', using 30" >&2; interval=30 ;;
esac

trap 'echo "worker stopping"; exit 0' TERM INT
echo "worker started (interval ${interval}s)"
n=0
while true; do
    n=$((n + 1))
    echo "unit of work #${n} done at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    # Background sleep + wait so SIGTERM is handled immediately.
    sleep "${interval}" &
    wait $!
done
WORKER
install -o root -g root -m 0755 "${tmp}" /opt/worker/worker.sh

if [ -f "${SRC_UNIT}" ]; then
    install -o root -g root -m 0644 "${SRC_UNIT}" "${UNIT}"
elif [ ! -f "${UNIT}" ]; then
    echo "error: ${SRC_UNIT} not found; upload it with a file step first" >&2
    exit 1
fi

# daemon-reload needs a running systemd (not the case in a container or
# chroot); enabling only creates symlinks and works either way.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
systemctl enable worker.service

echo "worker installed and enabled"
