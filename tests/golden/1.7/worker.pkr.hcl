# Rendered by bakery from "recipes/apps/worker.yaml"; do not edit, edit the recipe.
packer {
  required_version = ">= 1.7.0"
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
  }
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
  ami_name = join("-", ["worker-1.0.0", var.build_timestamp])
}

source "amazon-ebs" "worker" {
  ami_name        = local.ami_name
  ami_description = "Background worker service"
  region          = "us-east-1"
  source_ami      = var.source_ami
  instance_type   = "t3.micro"
  communicator    = "ssh"
  ssh_username    = "ec2-user"
  encrypt_boot    = true
  imds_support    = "v2.0"

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 8
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  run_tags = {
    "Name"            = "bakery-builder worker 1.0.0"
    "bakery:build-id" = var.build_id
    "bakery:recipe"   = "worker"
  }
  run_volume_tags = {
    "Name"            = "bakery-builder worker 1.0.0"
    "bakery:build-id" = var.build_id
    "bakery:recipe"   = "worker"
  }
  tags = {
    "Name"                 = local.ami_name
    "app"                  = "worker"
    "bakery:build-date"    = var.build_date
    "bakery:build-id"      = var.build_id
    "bakery:git-commit"    = var.git_commit
    "bakery:input-hash"    = var.input_hash
    "bakery:layer"         = "app"
    "bakery:managed"       = "true"
    "bakery:parent-recipe" = "cis-hardened"
    "bakery:recipe"        = "worker"
    "bakery:source"        = var.source_ref
    "bakery:source-ami"    = var.source_ami
    "bakery:version"       = "1.0.0"
    "owner"                = "platform-team"
  }
  snapshot_tags = {
    "Name"                 = local.ami_name
    "app"                  = "worker"
    "bakery:build-date"    = var.build_date
    "bakery:build-id"      = var.build_id
    "bakery:git-commit"    = var.git_commit
    "bakery:input-hash"    = var.input_hash
    "bakery:layer"         = "app"
    "bakery:managed"       = "true"
    "bakery:parent-recipe" = "cis-hardened"
    "bakery:recipe"        = "worker"
    "bakery:source"        = var.source_ref
    "bakery:source-ami"    = var.source_ami
    "bakery:version"       = "1.0.0"
    "owner"                = "platform-team"
  }
}

build {
  sources = ["source.amazon-ebs.worker"]

  # step 1: upload "steps/01-upload.tar.gz"
  provisioner "file" {
    source      = "${path.root}/steps/01-upload.tar.gz"
    destination = "/tmp/bakery-step-01.tar.gz"
  }

  # step 1: file "recipes/files/worker/worker.service"
  provisioner "shell" {
    script          = "${path.root}/steps/01-file.sh"
    execute_command = "chmod +x {{ .Path }}; sh '{{ .Path }}'"
  }

  # step 2: environment "steps/02.env"
  provisioner "file" {
    source      = "${path.root}/steps/02.env"
    destination = "/tmp/bakery-step-02.env"
  }

  # step 2: script "recipes/scripts/worker/install-worker.sh"
  provisioner "shell" {
    script          = "${path.root}/steps/02-install-worker.sh"
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh -c 'set -a; . /tmp/bakery-step-02.env; set +a; exec \"$0\" \"$@\"' {{ .Path }}"
  }

  # step 3: hygiene "hygiene.sh"
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
      "recipe"     = "worker"
      "version"    = "1.0.0"
      "input_hash" = var.input_hash
    }
  }
}
