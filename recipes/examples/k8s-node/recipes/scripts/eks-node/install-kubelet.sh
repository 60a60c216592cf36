#!/usr/bin/env bash
# Install containerd and the kubelet of one Kubernetes minor version, with the
# kubelet configuration the file step uploaded for that version, and enable
# both for the node's first boot (nodeadm or user data joins the cluster).
#
# KUBERNETES_VERSION (project parameter kubernetes_version): a minor, e.g. 1.33.
# CONTAINERD_VERSION (project parameter containerd_version): e.g. 1.7.27.
# ARCH (the recipe's matrix): x86_64 or arm64, checked against the builder.
set -euo pipefail

: "${KUBERNETES_VERSION:?set KUBERNETES_VERSION, e.g. 1.33}"
: "${CONTAINERD_VERSION:?set CONTAINERD_VERSION, e.g. 1.7.27}"
: "${ARCH:?set ARCH (x86_64 or arm64)}"
SRC_CONFIG="/tmp/kubelet-config-${KUBERNETES_VERSION}.json"

case "${ARCH}" in
    x86_64) expected=x86_64 ;;
    arm64) expected=aarch64 ;;
    *) echo "error: unknown ARCH='${ARCH}'" >&2; exit 1 ;;
esac
if [ "$(uname -m)" != "${expected}" ]; then
    echo "error: building the ${ARCH} image on a $(uname -m) instance" >&2
    exit 1
fi

# The community package repository of this minor (dnf picks the architecture).
cat > /etc/yum.repos.d/kubernetes.repo <<REPO
[kubernetes]
name=Kubernetes v${KUBERNETES_VERSION}
baseurl=https://pkgs.k8s.io/core:/stable:/v${KUBERNETES_VERSION}/rpm/
enabled=1
gpgcheck=1
gpgkey=https://pkgs.k8s.io/core:/stable:/v${KUBERNETES_VERSION}/rpm/repodata/repomd.xml.key
REPO

dnf -y install "containerd-${CONTAINERD_VERSION}*" kubelet cri-tools

if [ ! -f "${SRC_CONFIG}" ]; then
    echo "error: ${SRC_CONFIG} not found; upload it with a file step first" >&2
    exit 1
fi
install -d -o root -g root -m 0755 /etc/kubernetes/kubelet
install -o root -g root -m 0644 "${SRC_CONFIG}" /etc/kubernetes/kubelet/config.json

# The kubelet must be of the minor the image is named after.
case "$(kubelet --version)" in
    "Kubernetes v${KUBERNETES_VERSION}."*) ;;
    *) echo "error: kubelet is $(kubelet --version), not ${KUBERNETES_VERSION}" >&2; exit 1 ;;
esac

install -d -o root -g root -m 0755 /etc/eks
printf 'KUBERNETES_VERSION=%s\nCONTAINERD_VERSION=%s\nARCH=%s\n' \
    "${KUBERNETES_VERSION}" "${CONTAINERD_VERSION}" "${ARCH}" > /etc/eks/release

# Symlinks only: works at build time without a running systemd.
systemctl enable containerd.service kubelet.service

echo "kubelet ${KUBERNETES_VERSION} and containerd ${CONTAINERD_VERSION} installed for ${ARCH}"
