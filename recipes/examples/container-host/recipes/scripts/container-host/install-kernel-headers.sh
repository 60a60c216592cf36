#!/usr/bin/env bash
# Install what building an out-of-tree kernel module needs (the NVIDIA and the
# Neuron drivers both build theirs with DKMS): the headers of the running
# kernel and a compiler.
set -euo pipefail

kernel="$(uname -r)"
dnf -y install "kernel-devel-${kernel}" "kernel-headers-${kernel}" \
    kernel-modules-extra gcc make dkms

echo "kernel headers for ${kernel} installed"
