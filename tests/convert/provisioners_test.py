"""Provisioners mapped onto steps: shell, file, reboots, ansible, and what has no equivalent."""

from __future__ import annotations

import textwrap

from tests.support.packer_templates import convert_text, messages, recipe_of


def build(provisioners: str, sources: str = '"source.amazon-ebs.x"') -> str:
    return (
        'source "amazon-ebs" "x" {\n  source_ami = "ami-0123456789abcdef0"\n}\n'
        f"build {{\n  sources = [{sources}]\n"
        + textwrap.indent(textwrap.dedent(provisioners), "  ")
        + "}\n"
    )


def steps(text: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = recipe_of(convert_text(build(text))).get("provision", [])
    return found


def test_scripts_run_as_packer_ran_them_with_their_arguments() -> None:
    assert steps(
        """\
        provisioner "shell" {
          scripts = ["scripts/a.sh", "scripts/b.sh"]
        }
        provisioner "shell" {
          script          = "scripts/c.sh"
          execute_command = "echo 'packer' | sudo -S env {{ .Vars }} {{ .Path }} --fast 2"
          environment_vars = ["A=1", "B=x=y"]
        }
        provisioner "shell" {
          inline          = ["id"]
          execute_command = "sudo -E sh -c '{{ .Vars }} {{ .Path }}'"
          inline_shebang  = "/bin/bash -ex"
          pause_before    = "1m30s"
          timeout         = "1.5h"
        }
        """
    ) == [
        {"script": "../scripts/a.sh", "run_as": "user"},
        {"script": "../scripts/b.sh", "run_as": "user"},
        {"script": "../scripts/c.sh", "args": ["--fast", "2"], "env": {"A": "1", "B": "x=y"}},
        {
            "inline": ["id"],
            "shebang": "/bin/bash -ex",
            "run_as": "root",
            "pause_before": "1m30s",
            "timeout": "1h30m",
        },
    ]


def test_a_custom_execute_command_is_listed() -> None:
    conversion = convert_text(
        build(
            """\
            provisioner "shell" {
              script          = "scripts/a.sh"
              execute_command = "sudo nice -n 10 bash {{ .Path }}"
            }
            """
        )
    )
    assert recipe_of(conversion)["provision"] == [{"script": "../scripts/a.sh"}]
    assert (
        'packer/build.pkr.hcl:8: not mapped: provisioner 1 "shell": execute_command: a custom '
        "execute_command is not mapped beyond run_as: root: sudo nice -n 10 bash {{.Path}}"
    ) in messages(conversion)


def test_a_reboot_takes_its_wait_from_the_next_provisioner() -> None:
    assert steps(
        """\
        provisioner "shell" {
          inline            = ["sudo shutdown -r now"]
          expect_disconnect = true
        }
        provisioner "shell" {
          inline              = ["uname -r"]
          pause_before        = "30s"
          start_retry_timeout = "15m"
        }
        provisioner "shell" {
          inline            = ["sudo reboot", "echo not only a reboot"]
          expect_disconnect = true
        }
        """
    ) == [
        {"reboot": {"pause": "30s", "timeout": "15m"}},
        {"inline": ["uname -r"]},
        {"inline": ["sudo reboot", "echo not only a reboot"], "expect_disconnect": True},
    ]


def test_files_folders_and_downloads() -> None:
    conversion = convert_text(
        build(
            """\
            provisioner "file" {
              sources     = ["files/a.conf", "${path.root}/b.conf"]
              destination = "/tmp/"
            }
            provisioner "file" {
              source      = "files/etc"
              destination = "/opt/etc"
            }
            provisioner "file" {
              direction   = "download"
              source      = "/var/log/build.log"
              destination = "/home/me/logs/"
            }
            provisioner "file" {
              content     = "hello"
              destination = "/tmp/hello"
            }
            """
        )
    )
    assert recipe_of(conversion)["provision"] == [
        {"file": {"source": "../files/a.conf", "destination": "/tmp/"}},
        {"file": {"source": "../packer/b.conf", "destination": "/tmp/"}},
        {"file": {"source": "../files/etc", "destination": "/opt/etc"}},
        {"download": {"source": "/var/log/build.log", "destination": "build.log"}},
    ]
    assert any("provisioner 4 \"file\": a file provisioner needs source and destination" in m
               for m in messages(conversion))  # fmt: skip


def test_paths_out_of_the_project_are_listed_and_not_read() -> None:
    conversion = convert_text(
        build(
            """\
            provisioner "shell" {
              script = "../../etc/passwd"
            }
            provisioner "file" {
              source      = "/etc/shadow"
              destination = "/tmp/x"
            }
            provisioner "shell" {
              script = "scripts/link.sh"
            }
            """
        ),
        outside=["scripts/link.sh"],
    )
    assert "provision" not in recipe_of(conversion)
    found = messages(conversion)
    assert any("script: the path leads out of the project; it is not read" in m for m in found)
    assert any("source: the path is outside the project; it is not read" in m for m in found)
    assert any("through a symbolic link; not read" in m for m in found)


def test_ansible_local_with_a_folder_extra_vars_and_a_galaxy_file() -> None:
    conversion = convert_text(
        build(
            """\
            provisioner "ansible-local" {
              playbook_file   = "ansible/site.yml"
              playbook_dir    = "ansible"
              galaxy_file     = "ansible/requirements.yml"
              extra_arguments = ["-e", "a=1 b=two", "--extra-vars", "{\\"c\\": true}", "-vvv"]
            }
            provisioner "ansible" {
              playbook_file   = "ansible/other.yml"
              extra_arguments = ["--become", "--extra-vars=d=4"]
              user            = "ec2-user"
            }
            """
        )
    )
    assert recipe_of(conversion)["provision"] == [
        {
            "ansible": {
                "playbook": "../ansible/site.yml",
                "folder": "../ansible/",
                "galaxy_file": "../ansible/requirements.yml",
                "extra_vars": {"a": "1", "b": "two", "c": True},
            },
            "run_as": "user",
        },
        {"ansible": {"playbook": "../ansible/other.yml", "extra_vars": {"d": "4"}}},
    ]
    found = messages(conversion)
    assert any("extra_arguments: -vvv: only extra vars" in m for m in found)
    assert any(
        'provisioner 2 "ansible": Packer\'s ansible provisioner runs ansible-playbook on the bake '
        "host; bakery runs it on the instance"
        in m
        and ": changed: " in m
        for m in found
    )
    assert any('provisioner 2 "ansible": user: no equivalent' in m for m in found)


def test_provisioners_with_no_equivalent_stay_as_comments_where_they_stood() -> None:
    conversion = convert_text(
        build(
            """\
            provisioner "shell" {
              inline = ["echo one"]
            }
            provisioner "shell-local" {
              inline = ["make publish"]
            }
            provisioner "breakpoint" {}
            provisioner "shell" {
              inline = ["echo two"]
            }
            """
        )
    )
    text = conversion.recipes[0].text
    one, local, breakpoint, two = (
        text.index("echo one"),
        text.index('provisioner 2 "shell-local"'),
        text.index('provisioner 3 "breakpoint"'),
        text.index("echo two"),
    )
    assert one < local < breakpoint < two
    assert "make publish" not in text
