#!/bin/bash
# Install the container runtime: install-runtime.sh --runtime NAME --version VERSION
set -euo pipefail
runtime="" version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime) runtime="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
echo "installing ${runtime} ${version} (log level ${LOG_LEVEL})"
sudo dnf -y install "${runtime}-${version}" || sudo dnf -y install "${runtime}"
