# Rendered by bakery from "recipes/node-spot.yaml"; do not edit, edit the recipe.
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
  ami_name = join("-", ["node-spot-1.0.0", var.build_timestamp])
}

source "amazon-ebs" "node-spot" {
  ami_name            = local.ami_name
  ami_description     = "Worker node baked on spot instances"
  region              = "us-east-1"
  source_ami          = var.source_ami
  communicator        = "ssh"
  ssh_username        = "ec2-user"
  encrypt_boot        = true
  imds_support        = "v2.0"
  spot_instance_types = ["m6i.large", "m6a.large", "m5.large"]
  spot_price          = "auto"
  user_data_file      = "${path.root}/user-data"
  ami_product_codes   = ["abcdefghijklmnopqrstuvwxy"]

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
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
    "cost-center"     = "platform"
    "Name"            = "bakery-builder node-spot 1.0.0"
    "bakery:build-id" = var.build_id
    "bakery:recipe"   = "node-spot"
  }
  run_volume_tags = {
    "cost-center"     = "platform"
    "Name"            = "bakery-builder node-spot 1.0.0"
    "bakery:build-id" = var.build_id
    "bakery:recipe"   = "node-spot"
  }
  tags = {
    "Name"                 = local.ami_name
    "bakery:build-date"    = var.build_date
    "bakery:build-id"      = var.build_id
    "bakery:git-commit"    = var.git_commit
    "bakery:input-hash"    = var.input_hash
    "bakery:layer"         = "app"
    "bakery:managed"       = "true"
    "bakery:parent-recipe" = "node-base"
    "bakery:recipe"        = "node-spot"
    "bakery:source"        = var.source_ref
    "bakery:source-ami"    = var.source_ami
    "bakery:version"       = "1.0.0"
    "owner"                = "platform-team"
    "sample"               = "build-settings"
  }
  snapshot_tags = {
    "Name"                 = local.ami_name
    "bakery:build-date"    = var.build_date
    "bakery:build-id"      = var.build_id
    "bakery:git-commit"    = var.git_commit
    "bakery:input-hash"    = var.input_hash
    "bakery:layer"         = "app"
    "bakery:managed"       = "true"
    "bakery:parent-recipe" = "node-base"
    "bakery:recipe"        = "node-spot"
    "bakery:source"        = var.source_ref
    "bakery:source-ami"    = var.source_ami
    "bakery:version"       = "1.0.0"
    "owner"                = "platform-team"
    "sample"               = "build-settings"
  }
}

build {
  sources = ["source.amazon-ebs.node-spot"]

  # step 1: environment "steps/01.env"
  provisioner "file" {
    source      = "${path.root}/steps/01.env"
    destination = "/tmp/bakery-step-01.env"
  }

  # step 1: inline "inline"
  provisioner "shell" {
    script            = "${path.root}/steps/01-inline.sh"
    execute_command   = "chmod +x {{ .Path }}; {{ .Vars }} sh -c 'set -a; . /tmp/bakery-step-01.env; set +a; exec \"$0\" \"$@\"' {{ .Path }}"
    expect_disconnect = false
  }

  # step 2: hygiene "hygiene.sh"
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
      "recipe"     = "node-spot"
      "version"    = "1.0.0"
      "input_hash" = var.input_hash
    }
  }
}
