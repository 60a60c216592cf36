"""Every kind of amazon-ebs setting in one template, each mapped or listed with its reason."""

from __future__ import annotations

from tests.support.packer_templates import convert_text, messages, recipe_of

EVERYTHING = """\
data "amazon-parameterstore" "unused" {
  name = "/x"
}
data "amazon-parameterstore" "bad" {
  region = "eu-west-1"
}
source "amazon-ebs" "x" {
  ami_name           = "n-{{timestamp}}"
  ami_description    = "${"x"}"
  region             = "eu-north-1"
  source_ami         = "ami-0123456789abcdef0"
  source_ami_filter {
    filters = { name = "x" }
  }
  instance_type      = "t3.small"
  security_group_id  = "sg-0123456789abcdef0"
  security_group_ids = ["sg-0123456789abcdef1"]
  user_data_file     = "files/user-data.sh"
  user_data          = "#cloud-config"
  deprecate_at       = "2030-01-01T00:00:00Z"
  ssh_timeout        = "1m30s"
  imds_support       = "v1.0"
  kms_key_id         = "alias/x"
  spot_instance_types = ["t3.large"]
  metadata_options {
    http_tokens = "required"
    bogus       = 1
  }
  metadata_options {
    http_tokens = "optional"
  }
  subnet_filter {
    filters   = { "tag:Name" = "build-*" }
    most_free = true
  }
  launch_block_device_mappings {
    device_name = "/dev/xvda"
    encrypted   = true
    snapshot_id = "snap-0123456789abcdef0"
  }
  launch_block_device_mappings {
    volume_size = 10
    virtual_name = "ephemeral0"
  }
  tag {
    key   = "team"
    value = "a"
  }
  tag {
    value = "no key"
  }
  tags = { "${var.k}" = "v" }
  run_volume_tags = { other = "x" }
  snapshot_users = ["444455556666"]
  ami_users = ["111122223333"]
  region_kms_key_ids = { "eu-west-1" = "alias/x" }
  ami_org_arns = ["arn:aws:organizations::111122223333:organization/o-abcdefghij"]
  communicator = "winrm"
  winrm_username = "admin"
  packer_debug = true
  placement { tenancy = "dedicated" }
  disable_stop_instance = true
  block_duration_minutes = 60
  ssh_ciphers = ["aes128-gcm@openssh.com"]
  availability_zone = "us-east-1a"
  spot_tags = { a = "b" }
}
build {
  sources = ["source.amazon-ebs.x"]
}
"""


def test_every_kind_of_setting_is_mapped_or_listed() -> None:
    conversion = convert_text(EVERYTHING)
    build = recipe_of(conversion)["build"]
    assert build["security_group_ids"] == ["sg-0123456789abcdef0", "sg-0123456789abcdef1"]
    assert build["user_data_file"] == "../files/user-data.sh"
    assert build["ssh_timeout"] == "1m30s"
    assert build["metadata_options"] == {"http_tokens": "required"}
    assert build["subnet_filter"] == {"filters": {"tag:Name": "build-*"}, "most_free": True}
    assert build["extra"] == {
        "disable_stop_instance": True,
        "block_duration_minutes": 60,
        "ssh_ciphers": ["aes128-gcm@openssh.com"],
        "availability_zone": "us-east-1a",
    }
    document = recipe_of(conversion)
    assert document["source"] == {"ami": "ami-0123456789abcdef0"}
    assert document["tags"] == {"team": "a"}
    assert document["distribute"]["organizations"] == [
        "arn:aws:organizations::111122223333:organization/o-abcdefghij"
    ]
    assert document["distribute"]["kms_key_ids"] == {"eu-west-1": "alias/x"}
    found = "\n".join(messages(conversion))
    for expected in (
        'data "amazon-parameterstore" "unused": a data source no source_ami uses',
        "region: the template builds in eu-north-1; bakery builds in bakery.yaml's aws.region",
        "source_ami_filter: source_ami is given too; bakery takes one source",
        'deprecate_at: only timeadd(timestamp(), "NNNh") of whole days maps',
        "imds_support: 'v1.0': bakery takes v2.0 or none",
        "metadata_options: bogus: no equivalent",
        "metadata_options: given twice; the first is kept",
        "launch_block_device_mappings: encrypted: the image's encryption is build.encrypted",
        "launch_block_device_mappings: snapshot_id: no equivalent for the root volume",
        "launch_block_device_mappings: virtual_name: no equivalent",
        "launch_block_device_mappings: a volume without device_name is left out",
        "tag: a tag block needs a literal key and a value",
        "tags: ${var.k}: a tag key is an expression",
        "run_volume_tags: bakery tags the build's volumes with build.run_tags",
        "snapshot_users: bakery gives the snapshots the accounts of the image",
        "communicator: bakery connects over SSH",
        "winrm_username: bakery builds over SSH with a temporary key",
        "packer_debug: Packer's own",
        "placement: no equivalent",
        "spot_tags: bakery tags what it launches itself",
        'ami_description: "x" is an expression bakery does not evaluate',
    ):
        assert expected in found or expected.split(": ", 1)[1] in found, expected


def test_a_source_without_an_image_and_data_sources_that_do_not_map() -> None:
    conversion = convert_text(
        'data "amazon-parameterstore" "p" {\n  region = "x"\n}\n'
        'data "http" "h" {\n  url = "https://x"\n}\n'
        'source "amazon-ebs" "a" {\n  instance_type = "t3.small"\n}\n'
        'source "amazon-ebs" "b" {\n  source_ami = data.amazon-parameterstore.p.value\n}\n'
        'source "amazon-ebs" "c" {\n  source_ami = data.http.h.id\n}\n'
        'source "amazon-ebs" "d" {\n  source_ami = data.amazon-ami.nope.id\n}\n'
        'source "amazon-ebs" "e" {\n  source_ami_filter {\n    filters = "x"\n'
        '    architecture = "x"\n  }\n}\n'
        'source "amazon-ebs" "f" {\n  source_ami_filter {\n    filters = {\n'
        '      name = "n"\n      architecture = "arm64_mac"\n    }\n    owners = ["amazon"]\n'
        "    most_recent = true\n  }\n}\n"
        "build {\n  sources = ["
        + ", ".join(f'"source.amazon-ebs.{n}"' for n in "abcdef")
        + "]\n}\n"
    )
    found = "\n".join(messages(conversion))
    for expected in (
        "the source has no source_ami or source_ami_filter",
        'data "amazon-parameterstore" "p": it names no parameter',
        "a http data source has no equivalent",
        "data.amazon-ami.nope is not declared",
        "source_ami_filter: filters: not a map of filters",
        "bakery's filter needs filters.name",
        "source_ami_filter: owners: bakery's filter needs owners",
        "source_ami_filter: architecture: no equivalent",
    ):
        assert expected in found, expected
    overrides = recipe_of(conversion)["variants"]["overrides"]
    (f,) = [o for o in overrides if o["when"] == {"variant": "f"}]
    assert f["source"]["filter"]["filters"] == {"architecture": "arm64_mac"}
