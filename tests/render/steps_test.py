"""The provisioners of each step kind, and what they run: script arguments, inline shebangs,
run_as, downloads, reboots, step options, ansible, and the local-mode checks
(bakery.render.build_folder._step_provisioners and the step functions beside it)."""

from __future__ import annotations

import io
import json
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from bakery.render.build_folder import write
from tests.support.packer_spec import template_problems
from tests.support.rendering import (
    problems_of,
    provisioners,
    recipe_project,
    render_named,
    run_local_step,
    template_text,
)

PRINT_ARGS = "#!/bin/sh\nprintf '%s\\0' \"$@\"\n"
# Arguments that break a shell word or a template if quoted wrong.
HOSTILE_ARGS = [
    "plain",
    "with space",
    "",
    "it's",
    'double "quoted"',
    "$(touch PWNED)",
    "`touch PWNED`",
    "$HOME ${HOME}",
    "back\\slash\\\\",
    "; touch PWNED #",
    "*",
    "--flag=a b",
    "ünïcödé ✓ 日本語 🚀",
]


def step_of(rendered: Any, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """The provisioners of a template whose comment names the step kind, in order."""
    text = template_text(rendered)
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("# step ")]
    found = provisioners(rendered)
    assert len(comments) == len(found)
    return [item for comment, item in zip(comments, found, strict=True) if f": {kind} " in comment]


def as_the_instance_runs(command: str, folder: Path, index: int, script: str) -> str:
    """An execute_command as Packer's shell provisioner runs it (`/bin/sh -c`), with the
    uploaded env file and script where the build folder has them, and no sudo (we may be root
    or not; the sudo is checked on its own)."""
    return (
        command.replace("{{ .Vars }} ", "")
        .replace("{{ .Path }}", str(folder / script))
        .replace("sudo -E ", "")
        .replace(f"/tmp/bakery-step-{index:02d}.env", str(folder / f"steps/{index:02d}.env"))
    )


def test_script_args_are_written_as_set_in_the_env_file(tmp_path: Path) -> None:
    recipe = {"provision": [{"script": "scripts/x.sh", "args": ["a", "b c"]}]}
    rendered = render_named(recipe_project(tmp_path, recipe, {"scripts/x.sh": PRINT_ARGS}))
    assert rendered.files["steps/01.env"].decode().splitlines()[-1] == "set -- 'a' 'b c'"


def test_a_script_receives_exactly_its_args_through_the_execute_command(tmp_path: Path) -> None:
    recipe = {
        "provision": [
            {"script": "scripts/x.sh", "args": HOSTILE_ARGS, "env": {"GREETING": "it's me"}}
        ]
    }
    root = recipe_project(tmp_path / "project", recipe, {"scripts/x.sh": PRINT_ARGS})
    rendered = render_named(root)
    folder = write(rendered, tmp_path / "build").parent
    (_, env_file), (_, shell) = step_of(rendered, "environment") + step_of(rendered, "script")
    assert env_file["destination"] == "/tmp/bakery-step-01.env"
    command = as_the_instance_runs(shell["execute_command"], folder, 1, "steps/01-x.sh")
    (folder / "steps/01-x.sh").chmod(0o755)
    instance = tmp_path / "instance"
    instance.mkdir()
    done = subprocess.run(["sh", "-c", command], cwd=instance, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().split("\0")[:-1] == HOSTILE_ARGS
    assert list(instance.iterdir()) == []  # nothing in an argument ran


def test_a_script_without_args_gets_none(tmp_path: Path) -> None:
    recipe = {"provision": [{"script": "scripts/x.sh"}]}
    root = recipe_project(tmp_path / "project", recipe, {"scripts/x.sh": 'echo "$#"\n'})
    rendered = render_named(root)
    assert "set --" not in rendered.files["steps/01.env"].decode()
    folder = write(rendered, tmp_path / "build").parent
    ((_, shell),) = step_of(rendered, "script")
    command = as_the_instance_runs(shell["execute_command"], folder, 1, "steps/01-x.sh")
    done = subprocess.run(["sh", "-c", command], capture_output=True, check=True)
    assert done.stdout == b"0\n"


def test_an_inline_shebang_is_the_first_line_and_runs_the_commands(tmp_path: Path) -> None:
    recipe = {
        "provision": [{"inline": ['[[ "a" == a ]] && echo bash ran it'], "shebang": "/bin/bash -e"}]
    }
    rendered = render_named(recipe_project(tmp_path / "project", recipe))
    script = rendered.files["steps/01-inline.sh"].decode()
    assert script.splitlines()[0] == "#!/bin/bash -e"
    assert "set -e" not in script.splitlines()  # the shebang says how, as Packer's inline_shebang
    folder = write(rendered, tmp_path / "build").parent
    ((_, shell),) = step_of(rendered, "inline")
    command = as_the_instance_runs(shell["execute_command"], folder, 1, "steps/01-inline.sh")
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, "bash ran it\n"), done.stderr


def test_inline_commands_without_a_shebang_run_with_sh_e(tmp_path: Path) -> None:
    recipe = {"provision": [{"inline": ["echo first", "false", "echo never"]}]}
    rendered = render_named(recipe_project(tmp_path / "project", recipe))
    script = rendered.files["steps/01-inline.sh"].decode().splitlines()
    assert script[0] == "#!/bin/sh" and "set -e" in script
    folder = write(rendered, tmp_path / "build").parent
    ((_, shell),) = step_of(rendered, "inline")
    command = as_the_instance_runs(shell["execute_command"], folder, 1, "steps/01-inline.sh")
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
    assert (done.returncode != 0, done.stdout) == (True, "first\n")


@pytest.mark.parametrize(
    ("step", "kind", "sudo"),
    [
        ({"script": "scripts/x.sh"}, "script", True),
        ({"script": "scripts/x.sh", "run_as": "user"}, "script", False),
        ({"inline": ["id"]}, "inline", False),
        ({"inline": ["id"], "run_as": "root"}, "inline", True),
        ({"file": {"source": "scripts/x.sh", "destination": "/opt/x"}}, "file", False),
        (
            {"file": {"source": "scripts/x.sh", "destination": "/opt/x"}, "run_as": "root"},
            "file",
            True,
        ),
        ({"ansible": {"playbook": "files/pb/site.yml"}}, "ansible", True),
        ({"ansible": {"playbook": "files/pb/site.yml"}, "run_as": "user"}, "ansible", False),
    ],
)
def test_run_as_picks_an_execute_command_with_or_without_sudo(
    tmp_path: Path, step: dict[str, Any], kind: str, sudo: bool
) -> None:
    files = {"scripts/x.sh": PRINT_ARGS, "files/pb/site.yml": "- hosts: all\n"}
    rendered = render_named(recipe_project(tmp_path, {"provision": [step]}, files))
    ((_, shell),) = step_of(rendered, kind)
    assert ("sudo" in shell["execute_command"]) is sudo


def test_a_download_fetches_into_the_builds_artifacts(tmp_path: Path) -> None:
    recipe = {"provision": [{"download": {"source": "/etc/os-release", "destination": "os/r.txt"}}]}
    rendered = render_named(recipe_project(tmp_path, recipe))
    ((kind, attributes),) = step_of(rendered, "download")
    assert (kind, attributes) == (
        "file",
        {
            "source": "/etc/os-release",
            "destination": "${path.root}/artifacts/os/r.txt",
            "direction": "download",
        },
    )
    assert template_problems(template_text(rendered)) == []


def test_a_download_in_local_mode_leaves_a_placeholder_artifact(tmp_path: Path) -> None:
    recipe = {"provision": [{"download": {"source": "/etc/os-release", "destination": "os/r.txt"}}]}
    rendered = render_named(recipe_project(tmp_path / "project", recipe), "r", "1.6", local=True)
    ((kind, attributes),) = step_of(rendered, "download")
    assert kind == "shell-local"
    folder = write(rendered, tmp_path / "build").parent
    done = run_local_step(folder, attributes["inline"])
    assert done.returncode == 0, done.stderr
    kept = (folder / "artifacts/os/r.txt").read_text()
    assert "/etc/os-release is not downloaded" in kept


@pytest.mark.parametrize(
    ("reboot", "pause", "timeout"),
    [({}, "30s", "10m"), ({"pause": "5s", "timeout": "7m"}, "5s", "7m")],
)
def test_a_reboot_expects_the_disconnect_then_waits_to_reconnect(
    tmp_path: Path, reboot: dict[str, str], pause: str, timeout: str
) -> None:
    rendered = render_named(recipe_project(tmp_path, {"provision": [{"reboot": reboot}]}))
    (kind, first), (again, second) = step_of(rendered, "reboot") + step_of(rendered, "reconnect")
    assert (kind, again) == ("shell", "shell")
    assert first["expect_disconnect"] is True
    assert any("reboot" in command for command in first["inline"])
    assert "pause_before" not in first
    assert (second["pause_before"], second["start_retry_timeout"]) == (pause, timeout)
    assert "expect_disconnect" not in second
    assert template_problems(template_text(rendered)) == []


OPTIONS = {"pause_before": "3s", "timeout": "5m", "max_retries": 2}
SHELL_OPTIONS = {"expect_disconnect": True, "start_retry_timeout": "1m"}


def test_step_options_of_a_script_go_to_the_provisioners_they_mean(tmp_path: Path) -> None:
    step = {"script": "scripts/x.sh", **OPTIONS, **SHELL_OPTIONS}
    rendered = render_named(
        recipe_project(tmp_path, {"provision": [step]}, {"scripts/x.sh": PRINT_ARGS})
    )
    ((_, env_file),) = step_of(rendered, "environment")
    ((_, shell),) = step_of(rendered, "script")
    # Waiting is before the step (its first provisioner); retries and time limits for each;
    # the connection options for the shell that may lose it.
    assert {k: env_file.get(k) for k in (*OPTIONS, *SHELL_OPTIONS)} == {
        **OPTIONS,
        "expect_disconnect": None,
        "start_retry_timeout": None,
    }
    assert {k: shell.get(k) for k in (*OPTIONS, *SHELL_OPTIONS)} == {
        **OPTIONS,
        "pause_before": None,
        **SHELL_OPTIONS,
    }
    ((_, hygiene),) = step_of(rendered, "hygiene")
    assert not set(OPTIONS) & set(hygiene)
    assert template_problems(template_text(rendered)) == []


def test_step_options_of_an_upload_and_a_download(tmp_path: Path) -> None:
    steps = [
        {"file": {"source": "scripts/x.sh", "destination": "/opt/x"}, **OPTIONS},
        {"download": {"source": "/etc/hostname", "destination": "h"}, **OPTIONS},
    ]
    rendered = render_named(
        recipe_project(tmp_path, {"provision": steps}, {"scripts/x.sh": PRINT_ARGS})
    )
    ((_, archive),) = step_of(rendered, "upload")
    ((_, unpack),) = step_of(rendered, "file")
    ((_, download),) = step_of(rendered, "download")
    assert archive["pause_before"] == "3s" and "pause_before" not in unpack
    for attributes in (archive, unpack):
        assert (attributes["timeout"], attributes["max_retries"]) == ("5m", 2)
        assert "expect_disconnect" not in attributes
    assert {k: download[k] for k in OPTIONS} == OPTIONS


def test_disconnect_options_on_a_step_without_a_shell_are_refused(tmp_path: Path) -> None:
    steps = [
        {"download": {"source": "/etc/hostname", "destination": "h"}, "expect_disconnect": True}
    ]
    found = problems_of(recipe_project(tmp_path, {"provision": steps}))
    assert [problem.split(" ")[1] for problem in found] == ["E7005"], found


REBOOTING = [
    ({"inline": ["echo updating", "sudo reboot"]}, {}),
    ({"script": "scripts/update.sh"}, {"scripts/update.sh": "#!/bin/sh\nshutdown -r now\n"}),
]


@pytest.mark.parametrize(("step", "files"), REBOOTING)
def test_a_local_build_fails_a_step_that_reboots_without_expecting_it(
    tmp_path: Path, step: dict[str, Any], files: dict[str, str]
) -> None:
    root = recipe_project(tmp_path / "project", {"provision": [step]}, files)
    assert [p.split(" ")[1] for p in problems_of(root)] == ["W7001"]
    rendered = render_named(root, "r", "1.6", local=True)
    folder = write(rendered, tmp_path / "build").parent
    ((_, local), _hygiene) = provisioners(rendered)
    done = run_local_step(folder, local["inline"])
    assert done.returncode == 1
    assert "reboots the instance" in done.stderr and "expect_disconnect" in done.stderr


@pytest.mark.parametrize("expect", [False, True])
@pytest.mark.parametrize(("step", "files"), REBOOTING)
def test_a_local_build_runs_a_rebooting_step_that_says_expect_disconnect(
    tmp_path: Path, step: dict[str, Any], files: dict[str, str], expect: bool
) -> None:
    step = {**step, "expect_disconnect": expect}
    root = recipe_project(tmp_path / "project", {"provision": [step]}, files)
    assert problems_of(root) == []
    rendered = render_named(root, "r", "1.6", local=True)
    folder = write(rendered, tmp_path / "build").parent
    ((_, local), _hygiene) = provisioners(rendered)
    done = run_local_step(folder, local["inline"])
    assert done.returncode == 0, done.stderr


def members(archive: bytes) -> dict[str, tuple[int, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {
            info.name: (stat.S_IMODE(info.mode), tar.extractfile(info).read())  # type: ignore[union-attr]
            for info in tar
        }


ANSIBLE_FILES = {
    "files/ansible/node.yml": "- hosts: all\n  roles: [node]\n",
    "files/ansible/requirements.yml": "collections: []\n",
    "files/ansible/roles/node/tasks/main.yml": "- debug: {msg: hi}\n",
}
ANSIBLE = {
    "provision": [
        {
            "ansible": {
                "playbook": "files/ansible/node.yml",
                "galaxy_file": "files/ansible/requirements.yml",
                "extra_vars": {"kubernetes_version": "1.34", "max_pods": 110, "swap": False},
            },
            "env": {"STAGE": "it's prod"},
        }
    ]
}
# Stand-ins for Ansible on the instance: each says how it was called, from where, with what.
FAKE_ANSIBLE = """#!/bin/sh
{ echo "$(basename "$0") $*"; echo "cwd $(pwd)"; echo "STAGE=$STAGE"; } >> "$ANSIBLE_LOG"
if [ -f .bakery-extra-vars.json ]; then cat .bakery-extra-vars.json > "$ANSIBLE_LOG.vars"; fi
"""


def test_an_ansible_step_uploads_its_folder_with_the_vars_and_environment(tmp_path: Path) -> None:
    rendered = render_named(recipe_project(tmp_path, ANSIBLE, ANSIBLE_FILES))
    found = members(rendered.files["steps/01-upload.tar.gz"])
    assert sorted(found) == [
        ".bakery-extra-vars.json",
        ".bakery-step.env",
        "node.yml",
        "requirements.yml",
        "roles/node/tasks/main.yml",
    ]
    _, variables = found[".bakery-extra-vars.json"]
    assert json.loads(variables) == {"kubernetes_version": "1.34", "max_pods": 110, "swap": False}
    assert found[".bakery-step.env"][0] == 0o600
    assert [kind for kind, _ in step_of(rendered, "upload") + step_of(rendered, "ansible")] == [
        "file",
        "shell",
    ]


def instance_tools(folder: Path, *, with_ansible: bool) -> Path:
    """A PATH of the tools the unpacking script uses, and fake Ansible commands if asked."""
    folder.mkdir()
    for tool in ("sh", "mkdir", "tar", "gzip", "rm", "cat", "basename", "pwd"):
        found = shutil.which(tool)
        assert found is not None, tool
        (folder / tool).symlink_to(found)
    if with_ansible:
        for tool in ("ansible-playbook", "ansible-galaxy"):
            (folder / tool).write_text(FAKE_ANSIBLE)
            (folder / tool).chmod(0o755)
    return folder


def run_ansible_helper(tmp_path: Path, *, with_ansible: bool) -> tuple[Any, Path, Path]:
    root = recipe_project(tmp_path / "project", ANSIBLE, ANSIBLE_FILES)
    folder = write(render_named(root), tmp_path / "build").parent
    instance = tmp_path / "instance"
    instance.mkdir()
    uploaded, target = instance / "upload.tar.gz", instance / "bakery-ansible-01"
    uploaded.write_bytes((folder / "steps/01-upload.tar.gz").read_bytes())
    helper = (
        (folder / "steps/01-ansible.sh")
        .read_text()
        .replace("/tmp/bakery-step-01.tar.gz", str(uploaded))
        .replace("/tmp/bakery-ansible-01", str(target))
    )
    log = instance / "ansible.log"
    path = instance_tools(tmp_path / "bin", with_ansible=with_ansible)
    done = subprocess.run(
        ["sh", "-c", helper],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(path), "ANSIBLE_LOG": str(log)},
    )
    return done, log, target


def test_the_ansible_helper_installs_the_galaxy_file_then_runs_the_playbook_locally(
    tmp_path: Path,
) -> None:
    done, log, target = run_ansible_helper(tmp_path, with_ansible=True)
    assert done.returncode == 0, done.stderr
    lines = log.read_text().splitlines()
    assert lines[:3] == [
        "ansible-galaxy install -r requirements.yml",
        f"cwd {target}",
        "STAGE=it's prod",
    ]
    assert lines[3:] == [
        "ansible-playbook -i localhost, -c local -e @.bakery-extra-vars.json node.yml",
        f"cwd {target}",
        "STAGE=it's prod",
    ]
    assert json.loads(Path(f"{log}.vars").read_text()) == {
        "kubernetes_version": "1.34",
        "max_pods": 110,
        "swap": False,
    }
    assert not target.exists()  # the uploaded folder is removed afterwards


def test_the_ansible_helper_says_when_the_instance_has_no_ansible(tmp_path: Path) -> None:
    done, log, _ = run_ansible_helper(tmp_path, with_ansible=False)
    assert done.returncode == 127
    assert "ansible-playbook is not installed on the instance" in done.stderr
    assert not log.exists()


def test_every_step_kind_renders_what_current_packer_accepts(tmp_path: Path) -> None:
    steps = [
        {"file": {"source": "files/ansible/", "destination": "/opt/a/"}, "run_as": "root"},
        {"script": "scripts/x.sh", "args": ["--x", "1"], **OPTIONS, **SHELL_OPTIONS},
        {"inline": ["uname -r"], "shebang": "/bin/bash -e", "run_as": "root"},
        {"reboot": {"pause": "10s"}},
        ANSIBLE["provision"][0],
        {"download": {"source": "/etc/hostname", "destination": "hostname"}},
    ]
    root = recipe_project(
        tmp_path, {"provision": steps}, {**ANSIBLE_FILES, "scripts/x.sh": PRINT_ARGS}
    )
    assert template_problems(template_text(render_named(root))) == []


def test_a_step_duration_in_days_is_refused_or_written_in_a_unit_packer_reads(
    tmp_path: Path, packer_binary: str
) -> None:
    from bakery.packer import binary as packer

    steps = [
        {"inline": ["echo hi"], "pause_before": "1d", "timeout": "1d"},
        {"script": "scripts/x.sh", "start_retry_timeout": "1d", "expect_disconnect": True},
        {"reboot": {"pause": "1d", "timeout": "2d"}},
    ]
    root = recipe_project(tmp_path / "project", {"provision": steps}, {"scripts/x.sh": PRINT_ARGS})
    if problems_of(root):
        return  # refused with a problem: as good as a unit Packer reads
    dialect = packer.dialect_of(packer.version(packer_binary))
    template = write(render_named(root, "r", dialect), tmp_path / "build")
    packer.validate(packer_binary, template)
