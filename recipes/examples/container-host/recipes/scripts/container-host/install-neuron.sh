#!/usr/bin/env bash
# Install the AWS Neuron driver and runtime for Inferentia and Trainium
# instances (x86_64 only: the recipe's matrix excludes arm64 with neuron).
set -euo pipefail

cat > /etc/yum.repos.d/neuron.repo <<'REPO'
[neuron]
name=AWS Neuron
baseurl=https://yum.repos.neuron.amazonaws.com
enabled=1
gpgcheck=1
gpgkey=https://yum.repos.neuron.amazonaws.com/GPG-PUB-KEY-AMAZON-AWS-NEURON.PUB
REPO
rpm --import https://yum.repos.neuron.amazonaws.com/GPG-PUB-KEY-AMAZON-AWS-NEURON.PUB

dnf -y install aws-neuronx-dkms aws-neuronx-oci-hook aws-neuronx-runtime-lib aws-neuronx-tools

echo "Neuron driver installed"
