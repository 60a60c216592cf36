# Rendered by bakery from "recipes/apps/web.yaml"; do not edit, edit the recipe.
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
  ami_name = join("-", ["web-2.3.0", var.build_timestamp])
}

source "amazon-ebs" "web" {
  ami_name        = local.ami_name
  ami_description = "Nginx web tier"
  region          = "us-east-1"
  source_ami      = var.source_ami
  instance_type   = "t3.small"
  communicator    = "ssh"
  ssh_username    = "ec2-user"
  encrypt_boot    = true
  ami_regions     = ["us-west-2"]
  imds_support    = "v2.0"

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 16
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  run_tags = {
    "Name"            = "bakery-builder web 2.3.0"
    "bakery:build-id" = var.build_id
    "bakery:recipe"   = "web"
  }
  run_volume_tags = {
    "Name"            = "bakery-builder web 2.3.0"
    "bakery:build-id" = var.build_id
    "bakery:recipe"   = "web"
  }
  tags = {
    "Name"                 = local.ami_name
    "app"                  = "web"
    "bakery:build-date"    = var.build_date
    "bakery:build-id"      = var.build_id
    "bakery:git-commit"    = var.git_commit
    "bakery:input-hash"    = var.input_hash
    "bakery:layer"         = "app"
    "bakery:managed"       = "true"
    "bakery:parent-recipe" = "cis-hardened"
    "bakery:recipe"        = "web"
    "bakery:source"        = var.source_ref
    "bakery:source-ami"    = var.source_ami
    "bakery:version"       = "2.3.0"
    "owner"                = "platform-team"
  }
  snapshot_tags = {
    "Name"                 = local.ami_name
    "app"                  = "web"
    "bakery:build-date"    = var.build_date
    "bakery:build-id"      = var.build_id
    "bakery:git-commit"    = var.git_commit
    "bakery:input-hash"    = var.input_hash
    "bakery:layer"         = "app"
    "bakery:managed"       = "true"
    "bakery:parent-recipe" = "cis-hardened"
    "bakery:recipe"        = "web"
    "bakery:source"        = var.source_ref
    "bakery:source-ami"    = var.source_ami
    "bakery:version"       = "2.3.0"
    "owner"                = "platform-team"
  }
}

build {
  sources = ["source.amazon-ebs.web"]

  # step 1: upload "steps/01-upload.tar.gz"
  provisioner "file" {
    source      = "${path.root}/steps/01-upload.tar.gz"
    destination = "/tmp/bakery-step-01.tar.gz"
  }

  # step 1: file "recipes/files/web/nginx.conf"
  provisioner "shell" {
    script          = "${path.root}/steps/01-file.sh"
    execute_command = "chmod +x {{ .Path }}; sh '{{ .Path }}'"
  }

  # step 2: environment "steps/02.env"
  provisioner "file" {
    source      = "${path.root}/steps/02.env"
    destination = "/tmp/bakery-step-02.env"
  }

  # step 2: script "recipes/scripts/web/install-nginx.sh"
  provisioner "shell" {
    script          = "${path.root}/steps/02-install-nginx.sh"
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh -c 'set -a; . /tmp/bakery-step-02.env; set +a; exec \"$0\" \"$@\"' {{ .Path }}"
  }

  # step 3: environment "steps/03.env"
  provisioner "file" {
    source      = "${path.root}/steps/03.env"
    destination = "/tmp/bakery-step-03.env"
  }

  # step 3: inline "inline"
  provisioner "shell" {
    script          = "${path.root}/steps/03-inline.sh"
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sh -c 'set -a; . /tmp/bakery-step-03.env; set +a; exec \"$0\" \"$@\"' {{ .Path }}"
  }

  # step 4: hygiene "hygiene.sh"
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
      "recipe"     = "web"
      "version"    = "2.3.0"
      "input_hash" = var.input_hash
    }
  }
}
