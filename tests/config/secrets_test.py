"""The secret scan: every detector, every encoding trick, the allowlist, and no secret shown.

Fake secrets are built from pieces (or are the AWS documentation examples), so no file in git
looks like a live credential to a push protection scanner.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest

from bakery.config.marks import load_marked
from bakery.config.secrets import (
    MAX_ARCHIVE_MEMBERS,
    SecretAllow,
    finding_id,
    scan_bytes,
    scan_text,
    scan_yaml,
)
from bakery.errors import Problem, redact_urls

KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GITHUB = "gh" + "p_" + "Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7j"
GITLAB = "gl" + "pat-" + "Zx8Yw7Vu6Ts5Rq4Po3Nm"
SLACK = "xo" + "xb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
PRIVATE_KEY = "-----BEGIN " + "RSA PRIVATE KEY-----"

# (line, the secret in it, its rule, what the message calls it)
DETECTED = [
    (f"export AWS_ACCESS_KEY_ID={KEY_ID}", KEY_ID, "E5001", "an AWS access key id"),
    (f"aws_secret_access_key = {SECRET_KEY}", SECRET_KEY, "E5002", "an AWS secret access key"),
    (f'aws_key = "{SECRET_KEY}"', SECRET_KEY, "E5002", "an AWS secret access key"),
    (PRIVATE_KEY, None, "E5003", "a private key"),
    ("-----BEGIN " + "OPENSSH PRIVATE KEY-----", None, "E5003", "a private key"),
    ("DB_PASSWORD: 'hunter22'", "hunter22", "E5004", "a password or token literal"),
    ("curl -H token=abcd1234 http://x", "abcd1234", "E5004", "a password or token literal"),
    ("api_token = 9f8e7d6c5b4a", "9f8e7d6c5b4a", "E5004", "a password or token literal"),
    (f"GITHUB_TOKEN={GITHUB}", GITHUB, "E5005", "a GitHub token"),
    (f"token: {GITLAB}", GITLAB, "E5005", "a GitLab token"),
    (f"slack = {SLACK}", SLACK, "E5005", "a Slack token"),
    (f"git clone https://x:{GITHUB}@github.com/a/b", GITHUB, "E5005", "a GitHub token"),
    ("git clone https://deploy:s3cretPassw0rd@git.example.com/x", "s3cretPassw0rd", "E5006", "URL"),
    ('curl -H "Authorization: Bearer abcdefgh12345678" x', "abcdefgh12345678", "E5007", "Bearer"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "E5007", "Basic"),
    ("mysql -u root -pHunter2Pass db", "Hunter2Pass", "E5008", "command line"),
    ("mysqldump -p'Hunter2Pass' db", "Hunter2Pass", "E5008", "command line"),
    ("sshpass -p Hunter2 ssh host", "Hunter2", "E5008", "command line"),
    ("app --password=Hunter2pw", "Hunter2pw", "E5008", "command line"),
    ("curl -u admin:Hunter2pw https://x", "Hunter2pw", "E5008", "command line"),
]


def _only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


@pytest.mark.parametrize(("line", "secret", "code", "what"), DETECTED, ids=[d[2] for d in DETECTED])
def test_each_detector_reports_line_column_and_kind_never_the_secret(
    line: str, secret: str | None, code: str, what: str
) -> None:
    problem = _only(scan_text(f"#!/bin/sh\n{line}\n", "s.sh"))
    assert (problem.line, problem.code) == (2, code)
    assert what in problem.message
    if secret is not None:
        assert problem.column == line.index(secret) + 1
        assert secret not in problem.message and secret[:6] not in str(problem)
        assert f"(finding {finding_id('s.sh', secret)})" in problem.message


@pytest.mark.parametrize(
    "line",
    [
        "PasswordAuthentication no",
        'token="$(curl -s http://169.254.169.254/latest/api/token)"',
        "password: ${DB_PASSWORD}",
        "password: {{ db_password }}",
        "password_file=/etc/app/pw",
        "password = xxxxxxxx",
        "token: <your token here>",
        'curl -H "Authorization: Bearer $TOKEN" https://x',
        "mysql -u root -p$DB_PASSWORD db",
        "mkdir -p /opt/app && ssh -p 2222 host",
        "echo 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 a | sha256sum -c",
        f"export API_KEY={KEY_ID}  # bakery: allow-secret",
    ],
)
def test_harmless_or_marked_lines_pass(line: str) -> None:
    assert scan_text(line, "s.sh") == []


# -- what ships: decoded YAML, bytes, archives ---------------------------------------------


def _yaml(text: str) -> list[Problem]:
    doc, problems = load_marked(text, "r.yaml")
    assert problems == []
    return scan_yaml(doc, text, "r.yaml")


@pytest.mark.parametrize(
    ("text", "line", "code"),
    [
        ('env:\n  A: "\\x41KIAIOSFODNN7EXAMPLE"\n', 2, "E5001"),
        ('env:\n  A: "AKIA\\u0049OSFODNN7EXAMPLE"\n', 2, "E5001"),
        ('env:\n  A: "AKIA\\U00000049OSFODNN7EXAMPLE"\n', 2, "E5001"),
        ("env:\n  DB_PASSWORD: >-\n    Hunter2Secret\n", 2, "E5004"),
        ("env:\n  DB_PASSWORD:\n    >-\n    Hunter2Secret\n", 3, "E5004"),
        ("env:\n  DB_PASSWORD: 'Hunter2'\n  X: 'Secret'\n", 2, "E5004"),
        ('env:\n  AKEY: "AKIA\\\n    IOSFODNN7EXAMPLE"\n', 2, "E5001"),
        ("tags: {password: Hunter2Secret}\n", 1, "E5004"),
        ("steps: ['curl -H \"Authorization: Bearer abcdefgh12345678\" x']\n", 1, "E5007"),
    ],
    ids=[
        "x-escape",
        "u-escape",
        "U-escape",
        "folded",
        "folded-next-line",
        "quoted",
        "line-continuation",
        "flow-mapping",
        "header-in-list",
    ],
)
def test_decoded_yaml_values_are_scanned(text: str, line: int, code: str) -> None:
    problem = _only(_yaml(text))
    assert (problem.line, problem.code) == (line, code)


def test_a_secret_found_raw_and_decoded_is_reported_once_with_its_key_path() -> None:
    problem = _only(_yaml(f"env:\n  AWS_ID: {KEY_ID}\n"))
    assert (problem.line, problem.column, problem.path) == (2, 11, "env.AWS_ID")


def test_a_secret_in_a_yaml_comment_is_reported_too() -> None:
    assert _only(_yaml(f"name: x  # old key {KEY_ID}\n")).code == "E5001"


def test_a_marked_yaml_value_passes() -> None:
    assert _yaml(f"env:\n  A: {KEY_ID}  # bakery: allow-secret\n") == []


@pytest.mark.parametrize(
    "data",
    [
        b"#!/bin/sh\necho caf\xe9\n" + f"KEY={KEY_ID}\n".encode(),
        f"KEY={KEY_ID}\n".encode() + b"\0",
        b"\x7fELF\0\0\0" + KEY_ID.encode() + b"\0\xff",
        f"KEY={KEY_ID}\n".encode("utf-16"),
        f"KEY={KEY_ID}\n".encode("utf-16-le"),
        f"KEY={KEY_ID}\r\n".encode(),
    ],
    ids=["latin-1-byte", "trailing-nul", "binary", "utf-16-bom", "utf-16-le", "crlf"],
)
def test_files_are_scanned_as_bytes(data: bytes) -> None:
    assert _only(scan_bytes(data, "f")).code == "E5001"


def _tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


SECRET_FILE = {"docs/README": b"nothing\n", "etc/app.env": f"\nTOKEN={GITHUB}\n".encode()}


@pytest.mark.parametrize(
    "data",
    [_tar(SECRET_FILE, "w"), _tar(SECRET_FILE), _tar(SECRET_FILE, "w:bz2"), _zip(SECRET_FILE)],
    ids=["tar", "tar.gz", "tar.bz2", "zip"],
)
def test_archives_are_scanned_inside(data: bytes) -> None:
    problem = _only(scan_bytes(data, "files/bundle"))
    assert (problem.file, problem.line, problem.code) == ("files/bundle!etc/app.env", 2, "E5005")


def test_nested_archives_and_gzip_streams_are_scanned() -> None:
    inner = _zip({"keys/id_rsa": f"{PRIVATE_KEY}\nMIIE\n".encode()})
    problem = _only(scan_bytes(_tar({"opt/keys.zip": inner}), "b.tgz"))
    assert problem.file == "b.tgz!opt/keys.zip!keys/id_rsa"
    assert _only(scan_bytes(gzip.compress(f"k={KEY_ID}".encode()), "d/x.env.gz")).file == (
        "d/x.env.gz!x.env"
    )


def test_archive_past_the_member_limit_is_refused() -> None:
    data = _zip({f"m/{n}": b"" for n in range(MAX_ARCHIVE_MEMBERS + 1)})
    problem = _only(scan_bytes(data, "many.zip"))
    assert problem.code == "E5009" and "members" in problem.message


def test_archive_that_declares_too_much_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bakery.config.secrets.MAX_ARCHIVE_BYTES", 1000)
    assert _only(scan_bytes(_tar({"big": b"x" * 2000}), "big.tgz")).code == "E5009"


def test_corrupt_archive_is_refused_not_skipped() -> None:
    assert _only(scan_bytes(b"PK\x03\x04cut short", "a.zip")).code == "E5009"
    assert _only(scan_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 40, "a.tgz")).code == "E5009"


def test_member_names_with_control_characters_are_escaped() -> None:
    problem = _only(scan_bytes(_tar({"a\x1b[31m\nb": KEY_ID.encode()}), "t.tgz"))
    assert "\x1b" not in problem.file and "\n" not in problem.file


# -- the allowlist --------------------------------------------------------------------------


def test_allowed_finding_is_silent_and_a_new_one_in_the_same_file_is_reported() -> None:
    text = f"example = {KEY_ID}\n"
    file = "recipes/files/vendor/fixtures.txt"
    allowed = finding_id(file, KEY_ID)
    assert f"(finding {allowed})" in _only(scan_text(text, file)).message
    allow = [SecretAllow("recipes/files/vendor/", "upstream test fixtures", (allowed,))]
    assert scan_text(text, file, allow) == []
    problem = _only(scan_text(text + f"new = {GITLAB}\n", file, allow))
    assert (problem.line, problem.code) == (2, "E5005")


def test_allow_entry_without_findings_covers_its_folder_only() -> None:
    allow = [SecretAllow("vendor/", "upstream fixtures")]
    data = f"k={KEY_ID}\n".encode()
    assert scan_bytes(data, "vendor/a/b.txt", allow) == []
    assert scan_bytes(_zip({"x": data}), "vendor/a.zip", allow) == []
    assert len(scan_bytes(data, "vendored/b.txt", allow)) == 1
    assert len(scan_bytes(data, "app/vendor/b.txt", allow)) == 1
    assert scan_bytes(data, "one.txt", [SecretAllow("one.txt", "reviewed")]) == []


def test_finding_id_depends_on_file_and_secret_and_hides_the_secret() -> None:
    ids = {finding_id("a", KEY_ID), finding_id("b", KEY_ID), finding_id("a", SECRET_KEY)}
    assert len(ids) == 3
    assert all(len(i) == 16 and KEY_ID not in i for i in ids)


# -- never shown ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "webhook https://u:p4ss@hooks.example.com/x?token=abc: refused",
            "https://***@hooks.example.com/x?***:",
        ),
        ("see https://docs.example.com/page.", "https://docs.example.com/page."),
        ("db postgres://admin:pw@db:5432/x#frag", "postgres://***@db:5432/x#***"),
        ("no url here", "no url here"),
    ],
)
def test_redact_urls_hides_userinfo_query_and_fragment(text: str, shown: str) -> None:
    assert shown in redact_urls(text)
    assert "p4ss" not in redact_urls(text) and "token=abc" not in redact_urls(text)


def test_redact_urls_can_hide_the_path_of_a_webhook() -> None:
    assert redact_urls("https://hooks.example.com/services/T0/B0/x", paths=False) == (
        "https://hooks.example.com/***"
    )
