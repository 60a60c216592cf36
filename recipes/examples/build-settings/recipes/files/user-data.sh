#!/bin/bash
# User data of the build instance: make sure the SSM agent runs for Session Manager.
systemctl enable --now amazon-ssm-agent
