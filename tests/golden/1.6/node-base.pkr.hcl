# Rendered by bakery from "recipes/node-base.yaml"; do not edit, edit the recipe.
packer {
  required_version = ">= 1.6.6"
}

variable "source_ami" {
  type        = string
  description = "AMI id the build starts from, resolved by bakery"
}

variable "build_id" {
  type        = string
  description = "bakery build id"
}

variable "build_timestamp" {
  type        = string
  description = "build time, YYYYMMDDhhmmss UTC, part of the AMI name"
}

variable "build_date" {
  type        = string
  description = "build time, ISO 8601 UTC"
}

variable "input_hash" {
  type        = string
  description = "sha256 of everything the image is built from"
}

variable "git_commit" {
  type        = string
  description = "git commit of the recipes"
  default     = "unknown"
}

variable "source_ref" {
  type        = string
  description = "the source as the recipe names it, KIND:REFERENCE"
}

variable "manifest_path" {
  type        = string
  description = "where the manifest post-processor writes"
  default     = "packer-manifest.json"
}

locals {
  ami_name = join("-", ["node-base-1.0.0", var.build_timestamp])
}

source "amazon-ebs" "node-base" {
  ami_name             = local.ami_name
  ami_description      = "Node base with every build setting"
  region               = "us-east-1"
  source_ami           = var.source_ami
  instance_type        = "m6i.large"
  communicator         = "ssh"
  ssh_username         = "ec2-user"
  iam_instance_profile = "packer-ssm-builder"
  encrypt_boot         = true
  # Packer 1.6 has no metadata_options, imds_support, deprecate_at or organization sharing:
  # bakery sets the image's through the EC2 API after the build.
  # Left out: metadata_options of the build instance needs Packer 1.7 or newer.
  # Left out: temporary_key_pair_type of the build instance needs Packer 1.7 or newer.
  ssh_interface                         = "session_manager"
  ssh_pty                               = true
  ssh_timeout                           = "15m"
  temporary_security_group_source_cidrs = ["10.0.0.0/8"]
  vpc_id                                = "vpc-0a1b2c3d4e5f60718"
  custom_endpoint_ec2                   = "https://ec2-fips.us-east-1.amazonaws.com"
  user_data_file                        = "${path.root}/user-data"
  ebs_optimized                         = true
  ena_support                           = true
  sriov_support                         = true
  shutdown_behavior                     = "terminate"

  subnet_filter {
    filters = {
      "tag:Name" = "build-private-*"
    }
    most_free = true
  }

  security_group_filter {
    filters = {
      "tag:Class" = "packer"
    }
  }

  aws_polling {
    delay_seconds = 15
    max_attempts  = 240
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 20
    volume_type           = "gp3"
    iops                  = 4000
    throughput            = 250
    delete_on_termination = true
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvdb"
    volume_size           = 50
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }

  ami_block_device_mappings {
    device_name           = "/dev/xvdb"
    volume_size           = 50
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    delete_on_termination = true
  }

  run_tags = {
    "cost-center"     = "platform"
    "purpose"         = "image-build"
    "Name"            = "bakery-builder node-base 1.0.0"
    "bakery:build-id" = var.build_id
    "bakery:recipe"   = "node-base"
  }
  run_volume_tags = {
    "cost-center"     = "platform"
    "purpose"         = "image-build"
    "Name"            = "bakery-builder node-base 1.0.0"
    "bakery:build-id" = var.build_id
    "bakery:recipe"   = "node-base"
  }
  tags = {
    "Name"              = local.ami_name
    "bakery:build-date" = var.build_date
    "bakery:build-id"   = var.build_id
    "bakery:git-commit" = var.git_commit
    "bakery:input-hash" = var.input_hash
    "bakery:layer"      = "base"
    "bakery:managed"    = "true"
    "bakery:recipe"     = "node-base"
    "bakery:source"     = var.source_ref
    "bakery:source-ami" = var.source_ami
    "bakery:version"    = "1.0.0"
    "os"                = "al2023"
    "owner"             = "platform-team"
    "sample"            = "build-settings"
  }
  snapshot_tags = {
    "Name"              = local.ami_name
    "bakery:build-date" = var.build_date
    "bakery:build-id"   = var.build_id
    "bakery:git-commit" = var.git_commit
    "bakery:input-hash" = var.input_hash
    "bakery:layer"      = "base"
    "bakery:managed"    = "true"
    "bakery:recipe"     = "node-base"
    "bakery:source"     = var.source_ref
    "bakery:source-ami" = var.source_ami
    "bakery:version"    = "1.0.0"
    "os"                = "al2023"
    "owner"             = "platform-team"
    "sample"            = "build-settings"
  }
}

build {
  sources = ["source.amazon-ebs.node-base"]

  # step 1: upload "steps/01-upload.tar.gz"
  provisioner "file" {
    source      = "${path.root}/steps/01-upload.tar.gz"
    destination = "/tmp/bakery-step-01.tar.gz"
  }

  # step 1: file "recipes/files/etc-node"
  provisioner "shell" {
    script          = "${path.root}/steps/01-file.sh"
    execute_command = "chmod +x {{ .Path }}; sudo sh '{{ .Path }}'"
  }

  # step 2: upload "steps/02-upload.tar.gz"
  provisioner "file" {
    source      = "${path.root}/steps/02-upload.tar.gz"
    destination = "/tmp/bakery-step-02.tar.gz"
  }

  # step 2: file "recipes/files/motd"
  provisioner "shell" {
    script          = "${path.root}/steps/02-file.sh"
    execute_command = "chmod +x {{ .Path }}; sudo sh '{{ .Path }}'"
  }

  # step 3: environment "steps/03.env"
  provisioner "file" {
    source      = "${path.root}/steps/03.env"
    destination = "/tmp/bakery-step-03.env"
    timeout     = "20m"
    max_retries = 2
  }

  # step 3: script "recipes/scripts/install-runtime.sh"
  provisioner "shell" {
    script          = "${path.root}/steps/03-install-runtime.sh"
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh -c 'set -a; . /tmp/bakery-step-03.env; set +a; exec \"$0\" \"$@\"' {{ .Path }}"
    timeout         = "20m"
    max_retries     = 2
  }

  # step 4: environment "steps/04.env"
  provisioner "file" {
    source      = "${path.root}/steps/04.env"
    destination = "/tmp/bakery-step-04.env"
  }

  # step 4: inline "inline"
  provisioner "shell" {
    script          = "${path.root}/steps/04-inline.sh"
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh -c 'set -a; . /tmp/bakery-step-04.env; set +a; exec \"$0\" \"$@\"' {{ .Path }}"
  }

  # step 5: reboot "reboot"
  provisioner "shell" {
    inline            = ["sudo systemctl reboot || sudo shutdown -r now"]
    expect_disconnect = true
    skip_clean        = true
  }

  # step 5: reconnect "reboot"
  provisioner "shell" {
    inline              = ["echo 'bakery: the instance is back after its reboot'"]
    pause_before        = "30s"
    start_retry_timeout = "10m"
  }

  # step 6: environment "steps/06.env"
  provisioner "file" {
    source       = "${path.root}/steps/06.env"
    destination  = "/tmp/bakery-step-06.env"
    pause_before = "5s"
  }

  # step 6: inline "inline"
  provisioner "shell" {
    script              = "${path.root}/steps/06-inline.sh"
    execute_command     = "chmod +x {{ .Path }}; {{ .Vars }} sh -c 'set -a; . /tmp/bakery-step-06.env; set +a; exec \"$0\" \"$@\"' {{ .Path }}"
    start_retry_timeout = "5m"
  }

  # step 7: upload "steps/07-upload.tar.gz"
  provisioner "file" {
    source      = "${path.root}/steps/07-upload.tar.gz"
    destination = "/tmp/bakery-step-07.tar.gz"
  }

  # step 7: ansible "node.yml"
  provisioner "shell" {
    script          = "${path.root}/steps/07-ansible.sh"
    execute_command = "chmod +x {{ .Path }}; sudo sh '{{ .Path }}'"
  }

  # step 8: download "/etc/node/release"
  provisioner "file" {
    source      = "/etc/node/release"
    destination = "${path.root}/artifacts/release.txt"
    direction   = "download"
  }

  # step 9: hygiene "hygiene.sh"
  provisioner "shell" {
    script           = "${path.root}/hygiene.sh"
    environment_vars = ["BAKERY_BUILD_USER=ec2-user"]
    execute_command  = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E bash '{{ .Path }}'"
  }

  post-processor "manifest" {
    output     = var.manifest_path
    strip_path = true
    custom_data = {
      "build_id"   = var.build_id
      "recipe"     = "node-base"
      "version"    = "1.0.0"
      "input_hash" = var.input_hash
    }
  }
}
