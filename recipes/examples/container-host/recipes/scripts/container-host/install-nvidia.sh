#!/usr/bin/env bash
# Install the NVIDIA driver and the NVIDIA container toolkit, and turn on GPU
# support in the ECS agent.
#
# ARCH (from the recipe's matrix): x86_64 or arm64; NVIDIA names the arm64
# repository "sbsa".
set -euo pipefail

: "${ARCH:?set ARCH (x86_64 or arm64)}"
case "${ARCH}" in
    x86_64) repo_arch=x86_64 ;;
    arm64) repo_arch=sbsa ;;
    *) echo "error: unknown ARCH='${ARCH}'" >&2; exit 1 ;;
esac

dnf config-manager --add-repo \
    "https://developer.download.nvidia.com/compute/cuda/repos/amzn2023/${repo_arch}/cuda-amzn2023.repo"
dnf config-manager --add-repo \
    https://nvidia.github.io/libnvidia-container/stable/rpm/nvidia-container-toolkit.repo
dnf -y module install nvidia-driver:latest-dkms
dnf -y install nvidia-container-toolkit

nvidia-ctk runtime configure --runtime=docker
echo "ECS_ENABLE_GPU_SUPPORT=true" >> /etc/ecs/ecs.config

echo "NVIDIA driver installed for ${ARCH}"
