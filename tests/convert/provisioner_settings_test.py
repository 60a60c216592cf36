"""Every odd provisioner setting in one template, each mapped or listed with its reason."""

from __future__ import annotations

from tests.support.packer_templates import convert_text, messages, recipe_of

ODD = """\
variable "v" {
  default = "1"
}
source "amazon-ebs" "a" {
  source_ami = "ami-0123456789abcdef0"
}
source "amazon-ebs" "b" {
  source_ami = "ami-0123456789abcdef1"
}
build {
  sources = ["source.amazon-ebs.a", "source.amazon-ebs.b"]
  provisioner "shell" {
    only   = ["amazon-ebs.c"]
    inline = ["echo nowhere"]
  }
  provisioner "shell" {
    only        = "a"
    inline      = ["echo a"]
    max_retries = 50
    timeout     = "0s"
    pause_after = "10s"
  }
  provisioner "shell" {
    inline = ["echo {{timestamp}}"]
  }
  provisioner "shell" {
    inline           = ["echo ${var.v}"]
    environment_vars = ["V=other"]
  }
  provisioner "shell" {
    inline = ["", "  "]
  }
  provisioner "shell" {
    inline         = ["id"]
    inline_shebang = "/bin/sh -e"
  }
  provisioner "shell" {
    inline         = ["id"]
    inline_shebang = "bash; rm -rf /"
  }
  provisioner "shell" {
    inline              = ["sudo reboot"]
    expect_disconnect   = true
    pause_after         = "20s"
    start_retry_timeout = "1m"
  }
  provisioner "shell" {
    inline           = ["echo"]
    environment_vars = "A=1"
    env              = { "1BAD" = "x", GOOD = "y" }
  }
  provisioner "shell" {
    inline           = ["echo"]
    environment_vars = ["=x", var.v]
    env              = "x"
  }
  provisioner "shell" {
    script          = "s.sh"
    execute_command = "${var.v}"
  }
  provisioner "shell" {
    name = "nothing"
  }
  provisioner "file" {
    direction   = "sideways"
    source      = "a"
    destination = "b"
  }
  provisioner "file" {
    source      = "files/a"
    destination = "{{ .Path }}"
  }
  provisioner "file" {
    direction   = "download"
    source      = "/x"
    destination = "../../.."
  }
  provisioner "ansible-local" {
    playbook_dir = "ansible"
    role_paths   = ["roles"]
  }
  provisioner "ansible-local" {
    playbook_files  = ["ansible/a.yml", "ansible/b.yml"]
    extra_arguments = ["-e", "@vars.json", "-e", "{bad json", "-e", "{\\"a\\": [1]}", "-e",
                       "{\\"b-c\\": 1}", "-e", "x", "--extra-vars", "${var.v}", "-e", "9x=1",
                       "--tags", "a"]
  }
  provisioner "ansible-local" {
    playbook_file     = "ansible/c.yml"
    extra_arguments   = "x"
    expect_disconnect = true
  }
  provisioner "powershell" {
    inline = ["Get-Date"]
  }
}
"""


def test_every_odd_provisioner_setting_is_mapped_or_listed() -> None:
    conversion = convert_text(ODD)
    steps = recipe_of(conversion)["provision"]
    assert steps[0] == {"inline": ["echo a"], "when": {"variant": "a"}}
    assert {"inline": ["id"]} in steps
    assert {"reboot": {"pause": "20s"}} in steps
    assert {"inline": ["echo"], "env": {"GOOD": "y"}} in steps
    assert {"file": {"source": "../files/a", "destination": "{{ .Path }}"}} not in steps
    assert not [s for s in steps if "download" in s]
    playbooks = [s["ansible"]["playbook"] for s in steps if "ansible" in s]
    assert playbooks == ["../ansible/a.yml", "../ansible/b.yml", "../ansible/c.yml"]
    found = "\n".join(messages(conversion))
    for expected in (
        'provisioner 1 "shell": only: amazon-ebs.c is not a source of this build',
        'provisioner 1 "shell": only: it runs for no source of this build',
        "max_retries: bakery retries a step at most 20 times, not 50",
        "pause_after: no equivalent outside a reboot",
        "inline: command 1: {{timestamp}} is known only when a build runs",
        "inline: V is set by environment_vars too; the step is not converted",
        'provisioner 5 "shell": inline: no commands',
        "inline_shebang: bakery takes an interpreter path and options",
        "start_retry_timeout: a reboot step reconnects by reboot.timeout",
        "environment_vars: not a list of K=V",
        "env: 1BAD: not an environment name",
        "environment_vars: an entry that is not NAME=VALUE with a literal NAME",
        "env: not a map",
        "execute_command: not text bakery can read",
        'provisioner 12 "shell": name: a step has no name',
        'provisioner 12 "shell": a shell provisioner with no inline or script',
        "direction: neither upload nor download",
        "destination: '../../..' cannot name an artifact",
        "destination: {{.Path}} is a Go template bakery does not evaluate",
        "expect_disconnect: bakery takes it on script and inline steps only",
        'provisioner 16 "ansible-local": role_paths: bakery uploads the playbook\'s folder whole',
        'provisioner 16 "ansible-local": no playbook_file',
        "@vars.json: a file of extra vars is not read",
        "extra vars that are not a flat JSON object of text, numbers and booleans",
        "'b-c' is not a variable name",
        "extra_arguments: extra vars that are not NAME=VALUE",
        "extra vars given as a variable are read from its value",
        "--tags a: only extra vars (-e, --extra-vars) and --become are mapped",
        'provisioner 18 "ansible-local": extra_arguments: not a list',
        "playbook_dir: bakery uploads the playbook's folder whole (ansible-local uploaded the "
        "playbook alone)",
        'provisioner 19 "powershell": bakery builds Linux images',
    ):
        assert expected in found, expected
