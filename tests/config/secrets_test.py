from __future__ import annotations

import pytest

from bakery.config.secrets import scan_bytes, scan_text


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "secret access key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key block"),
        ("-----BEGIN RSA PRIVATE KEY-----", "private key block"),
        ("DB_PASSWORD: 'hunter22'", "password or token"),
        ("curl -H token=abcd1234 http://x", "password or token"),
    ],
)
def test_secret_is_reported_with_line_and_column(line: str, what: str) -> None:
    problems = scan_text(f"#!/bin/sh\n{line}\n", "s.sh")
    assert len(problems) == 1
    assert problems[0].line == 2
    assert what in problems[0].message


@pytest.mark.parametrize(
    "line",
    [
        "PasswordAuthentication no",
        'token="$(curl -s http://169.254.169.254/latest/api/token)"',
        "password: ${DB_PASSWORD}",
        "password_file=/etc/app/pw",
        "export API_KEY=AKIAIOSFODNN7EXAMPLE  # bakery: allow-secret",
    ],
)
def test_harmless_or_allowed_lines_pass(line: str) -> None:
    assert scan_text(line, "s.sh") == []


def test_binary_files_are_skipped() -> None:
    assert scan_bytes(b"\0AKIAIOSFODNN7EXAMPLE", "blob") == []
    assert len(scan_bytes(b"AKIAIOSFODNN7EXAMPLE", "text")) == 1
