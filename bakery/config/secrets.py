"""Find credentials in what a project ships, before they are baked into an image.

What is scanned is what reaches the image, the template, the Packer log or the AMI tags: the
decoded values of recipes and of bakery.yaml (a folded scalar or a YAML escape hides nothing),
their raw lines (comments too), the scripts and files recipes upload, as bytes (a stray
non-UTF-8 byte or a NUL skips nothing), and the members of uploaded archives (tar, compressed
tar, zip, gzip), within limits.

Token formats come from detect-secrets (Yelp), used as a library: its detectors' own
`analyze_string` runs on each line, never its verification (which would send a found key over
the network) nor its global settings. It is imported on the first scan, not when `bakery --help`
starts. bakery adds what detect-secrets lacks: an AWS secret key written without quotes,
Authorization headers, passwords on a command line, and a literal assigned to a secret-sounding
name (detect-secrets' keyword detector has no `token` and reports `password_file=/etc/pw` and
`$VAR` references; its word list is reused here).

A finding never shows the secret. It shows an id (a salted, slow hash of the secret and its
file) that bakery.yaml `secrets.allow` may name to allow that one finding after review.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import math
import re
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bakery.config import rule_codes as rc
from bakery.config.marks import MarkedDocument, PathKey, format_path, load_marked
from bakery.config.paths import shown
from bakery.config.rule_codes import Rule
from bakery.errors import Problem

ALLOW_MARKER = re.compile(r"(#|//|--|;)\s*bakery:\s*allow-secret\s*$")

# Bounds of the scan of one uploaded archive (nested archives share them): beyond them the
# archive is refused (E5009), since a secret could hide past the limit.
MAX_ARCHIVE_MEMBERS = 10_000
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
MAX_ARCHIVE_DEPTH = 3
# Long lines (minified files, binaries) are scanned in overlapping windows, so no regular
# expression runs over megabytes at once; a secret is far shorter than the overlap.
WINDOW, OVERLAP = 4096, 512
# The finding id: PBKDF2 makes guessing a short password from a printed id slow, and the file
# name as salt makes a table of guesses useless across files and projects.
_ID_ITERATIONS = 20_000
ID_LENGTH = 16

_HINT = (
    "remove it (fetch it at boot from SSM Parameter Store or Secrets Manager), end the line "
    "with '# bakery: allow-secret', or allow it in bakery.yaml secrets.allow"
)


@dataclass(frozen=True)
class SecretAllow:
    """A reviewed exception of bakery.yaml `secrets.allow`: a file or a folder (ending in `/`),
    why, and optionally the ids of the findings allowed there (without: every finding).
    """

    path: str
    reason: str
    findings: tuple[str, ...] = ()

    def covers(self, file: str) -> bool:
        """Say whether `file` (or a member of it, `archive!member`) lies under this entry."""
        base = file.split("!", 1)[0]
        if self.path.endswith("/"):
            return base.startswith(self.path) or self.path in ("./", "/")
        return base == self.path

    def allows(self, file: str, finding: str) -> bool:
        return self.covers(file) and (not self.findings or finding in self.findings)


@dataclass(frozen=True)
class Hit:
    """One secret found in a line: where it starts (0-based), what it is, its rule."""

    start: int
    secret: str
    kind: str
    rule: Rule


def finding_id(file: str, secret: str) -> str:
    """Return the id printed with a finding: it names the finding, never reveals the secret."""
    digest = hashlib.pbkdf2_hmac(
        "sha256", secret.encode("utf-8", "surrogatepass"), f"bakery:{file}".encode(), _ID_ITERATIONS
    )
    return digest.hex()[:ID_LENGTH]


# -- detectors ------------------------------------------------------------------------------

_ACCESS_KEY_ID = re.compile(r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA|AIDA|AROA)[0-9A-Z]{16}")
_UNQUOTED_SECRET_KEY = re.compile(
    r"(?i)\baws_?secret(?:_?access)?_?key\b[\"']?\s*[:=]\s*[\"']?"
    r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
)
_AUTH_HEADER = re.compile(
    r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?P<scheme>bearer|basic|token)\s+"
    r"(?P<secret>[A-Za-z0-9._~+/=-]{8,})"
)
# `mysql -pSECRET`, `sshpass -p SECRET`, `--password=SECRET`, `curl -u user:SECRET`
_COMMAND_LINE = (
    re.compile(r"\b(?:mysql\w*|mariadb[\w-]*)\b[^\n|;&]*?\s-p[\"']?(?P<secret>[^\s\"'$][^\s\"']*)"),
    re.compile(r"\bsshpass\s+-p\s*[\"']?(?P<secret>[^\s\"'$-][^\s\"']*)"),
    re.compile(
        r"(?<![\w-])--?(?:password|passwd|pass|token|secret)[= ]"
        r"[\"']?(?P<secret>[^\s\"'$<{-][^\s\"']*)"
    ),
    re.compile(
        r"\bcurl\b[^\n|;&]*?\s(?:-u|--user)\s*[\"']?[^\s:\"'$]+:(?P<secret>[^\s\"'$][^\s\"']*)"
    ),
)
# Names that hold secrets, beside detect-secrets' keyword list.
_EXTRA_NAMES = (
    "token",
    "access_?token",
    "auth_?token",
    "api_?token",
    "access_?key",
    "secret_?key",
    "client_?secret",
    "credentials?",
)
_MIN_LITERAL, _MIN_ENTROPY = 6, 2.0
_NOT_SECRET_WORDS = {"true", "false", "yes", "no", "none", "null", "nil", "required", "optional"}


@cache
def _names() -> str:
    from detect_secrets.plugins.keyword import DENYLIST

    words = "|".join(dict.fromkeys((*DENYLIST, *_EXTRA_NAMES)))
    return rf"(?:[A-Za-z0-9]+[_.-])*(?:{words})"


@cache
def _secret_name() -> re.Pattern[str]:
    return re.compile(_names(), re.IGNORECASE)


@cache
def _assignment() -> re.Pattern[str]:
    # A name ending in a secret word, then `=`, `:` or `:=`, then a literal.
    return re.compile(
        rf"(?<![A-Za-z0-9_.-])(?P<name>{_names()})(?![A-Za-z0-9])"
        r"[\"'\]]?\s*(?::=|=|:)\s*[\"']?(?P<secret>[^\s\"'`,;)}\]]+)",
        re.IGNORECASE,
    )


def is_secret_name(name: str) -> bool:
    """Say whether a key or variable name is one that holds a secret (`DB_PASSWORD`)."""
    return _secret_name().fullmatch(name) is not None


def is_literal_secret(value: str) -> bool:
    """Say whether a value given to a secret-sounding name looks like a secret, not a reference
    (`$VAR`, `${VAR}`, `{{ var }}`, `<placeholder>`), a path, a call or a word like `no`.
    """
    from detect_secrets.filters.heuristic import is_sequential_string, is_templated_secret

    value = value.strip()
    if len(value) < _MIN_LITERAL or len(value) > 1024 or value.lower() in _NOT_SECRET_WORDS:
        return False
    if value[0] in "$/~!&*%@" or value.startswith(("./", "../", "arn:", "http://", "https://")):
        return False
    if any(part in value for part in ("${", "{{", "$(", "%(", "(")) or is_templated_secret(value):
        return False
    if "\n" in value or is_sequential_string(value):
        return False
    return _entropy(value) >= _MIN_ENTROPY


def _entropy(text: str) -> float:
    counts = {char: text.count(char) for char in set(text)}
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


@cache
def _plugins() -> tuple[Any, ...]:
    from detect_secrets.plugins.artifactory import ArtifactoryDetector
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.cloudant import CloudantDetector
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
    from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.mailchimp import MailchimpDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.softlayer import SoftlayerDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector
    from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
    from detect_secrets.plugins.twilio import TwilioKeyDetector

    # Not used: public IP addresses (no secret), the high-entropy string detectors (every
    # checksum a script verifies would be one), the keyword detector (see _assignment).
    detectors = (
        AWSKeyDetector,
        PrivateKeyDetector,
        GitHubTokenDetector,
        GitLabTokenDetector,
        SlackDetector,
        JwtTokenDetector,
        NpmDetector,
        PypiTokenDetector,
        OpenAIDetector,
        StripeDetector,
        SendGridDetector,
        TwilioKeyDetector,
        DiscordBotTokenDetector,
        TelegramBotTokenDetector,
        MailchimpDetector,
        SquareOAuthDetector,
        ArtifactoryDetector,
        AzureStorageKeyDetector,
        IbmCloudIamDetector,
        IbmCosHmacDetector,
        SoftlayerDetector,
        CloudantDetector,
        BasicAuthDetector,  # last: a token as a URL's password is named as the token
    )
    return tuple(detector() for detector in detectors)


# What each detect-secrets detector finds, as messages say it.
_PLUGIN_KINDS = {
    "PrivateKeyDetector": ("a private key", "SECRET_PRIVATE_KEY"),
    "BasicAuthDetector": ("a password in a URL", "SECRET_URL_CREDENTIALS"),
    "GitHubTokenDetector": ("a GitHub token", "SECRET_SERVICE_TOKEN"),
    "GitLabTokenDetector": ("a GitLab token", "SECRET_SERVICE_TOKEN"),
    "SlackDetector": ("a Slack token or webhook", "SECRET_SERVICE_TOKEN"),
    "JwtTokenDetector": ("a JSON Web Token", "SECRET_SERVICE_TOKEN"),
    "NpmDetector": ("an npm token", "SECRET_SERVICE_TOKEN"),
    "PypiTokenDetector": ("a PyPI token", "SECRET_SERVICE_TOKEN"),
    "OpenAIDetector": ("an OpenAI key", "SECRET_SERVICE_TOKEN"),
    "StripeDetector": ("a Stripe key", "SECRET_SERVICE_TOKEN"),
    "SendGridDetector": ("a SendGrid key", "SECRET_SERVICE_TOKEN"),
    "TwilioKeyDetector": ("a Twilio key", "SECRET_SERVICE_TOKEN"),
    "DiscordBotTokenDetector": ("a Discord bot token", "SECRET_SERVICE_TOKEN"),
    "TelegramBotTokenDetector": ("a Telegram bot token", "SECRET_SERVICE_TOKEN"),
    "MailchimpDetector": ("a Mailchimp key", "SECRET_SERVICE_TOKEN"),
    "SquareOAuthDetector": ("a Square OAuth secret", "SECRET_SERVICE_TOKEN"),
    "ArtifactoryDetector": ("an Artifactory token", "SECRET_SERVICE_TOKEN"),
    "AzureStorageKeyDetector": ("an Azure storage key", "SECRET_SERVICE_TOKEN"),
    "IbmCloudIamDetector": ("an IBM Cloud IAM key", "SECRET_SERVICE_TOKEN"),
    "IbmCosHmacDetector": ("an IBM COS HMAC secret", "SECRET_SERVICE_TOKEN"),
    "SoftlayerDetector": ("a SoftLayer key", "SECRET_SERVICE_TOKEN"),
    "CloudantDetector": ("a Cloudant password", "SECRET_SERVICE_TOKEN"),
}


def _plugin_rule(plugin: Any, secret: str) -> tuple[str, Rule]:
    name = type(plugin).__name__
    if name == "AWSKeyDetector":
        if _ACCESS_KEY_ID.fullmatch(secret):
            return "an AWS access key id", rc.SECRET_ACCESS_KEY_ID
        return "an AWS secret access key", rc.SECRET_ACCESS_KEY
    kind, rule = _PLUGIN_KINDS.get(name, ("a token", "SECRET_SERVICE_TOKEN"))
    return kind, getattr(rc, rule)


def _plugin_hits(line: str) -> Iterator[Hit]:
    for plugin in _plugins():
        for start, secret in _plugin_matches(plugin, line):
            kind, rule = _plugin_rule(plugin, secret)
            if rule is rc.SECRET_PRIVATE_KEY and line[max(start - 5, 0) : start] == "-----":
                start -= 5  # at the `-----BEGIN`, where the block starts
            yield Hit(start, secret, kind, rule)


def _plugin_matches(plugin: Any, line: str) -> Iterator[tuple[int, str]]:
    """Yield where each secret a detector finds starts, and the secret.

    A regular-expression detector's own `analyze_string` yields a pattern's group when it has
    one, which for some is the secret (a URL's password) and for others a prefix (`glpat`):
    take the group only when it is long and not at the start, so the finding id is the secret's.
    """
    denylist = getattr(plugin, "denylist", None)
    if denylist is None or type(plugin).__name__ == "JwtTokenDetector":  # its own validation
        offset = 0
        for secret in plugin.analyze_string(line):
            start = line.find(secret, offset) if secret else -1
            if start >= 0:
                offset = start + len(secret)
                yield start, secret
        return
    for pattern in denylist:
        for match in pattern.finditer(line):
            groups = [n for n in range(1, (pattern.groups or 0) + 1) if match.group(n)]
            best = max(groups, key=lambda n: len(match.group(n)), default=0)
            if best and len(match.group(best)) >= 8 and match.start(best) > match.start():
                yield match.start(best), match.group(best)
            elif match.group():
                yield match.start(), match.group()


def _own_hits(line: str) -> Iterator[Hit]:
    for match in _ACCESS_KEY_ID.finditer(line):  # also AIDA and AROA ids, unquoted anywhere
        yield Hit(match.start(), match.group(), "an AWS access key id", rc.SECRET_ACCESS_KEY_ID)
    for match in _UNQUOTED_SECRET_KEY.finditer(line):
        yield Hit(
            match.start("secret"),
            match.group("secret"),
            "an AWS secret access key",
            rc.SECRET_ACCESS_KEY,
        )
    for match in _AUTH_HEADER.finditer(line):
        scheme = match.group("scheme").capitalize()
        yield Hit(
            match.start("secret"),
            match.group("secret"),
            f"an Authorization: {scheme} header",
            rc.SECRET_AUTH_HEADER,
        )
    for pattern in _COMMAND_LINE:
        for match in pattern.finditer(line):
            secret = match.group("secret")
            if len(secret) >= 4 and not secret.isdigit():
                yield Hit(
                    match.start("secret"),
                    secret,
                    "a password on a command line",
                    rc.SECRET_COMMAND_LINE,
                )
    for match in _assignment().finditer(line):
        if is_literal_secret(match.group("secret")):
            yield Hit(
                match.start("secret"),
                match.group("secret"),
                "a password or token literal",
                rc.SECRET_LITERAL,
            )


def scan_line(line: str) -> list[Hit]:
    """Return the secrets found in one line, each once (the first detector to find it names it)."""
    hits: list[Hit] = []
    seen: set[tuple[int, int]] = set()
    for begin in range(0, max(len(line), 1), WINDOW - OVERLAP):
        window = line[begin : begin + WINDOW]
        for hit in (*_plugin_hits(window), *_own_hits(window)):
            start, end = begin + hit.start, begin + hit.start + len(hit.secret)
            # Each stretch of a line is reported once, by the first (most specific) detector:
            # a token in a URL's password is a token, not also a literal.
            if any(start < e and s < end for s, e in seen):
                continue
            seen.add((start, end))
            hits.append(Hit(begin + hit.start, hit.secret, hit.kind, hit.rule))
        if begin + WINDOW >= len(line):
            break
    return hits


# -- texts, bytes, archives -----------------------------------------------------------------


def _problem(file: str, line: int, column: int, path: str, hit: Hit, finding: str) -> Problem:
    return hit.rule.at(
        file,
        line,
        column,
        path,
        f"possible secret: {hit.kind} (finding {finding}); {_HINT}",
    )


class Scanner:
    """Scan texts, files and YAML documents of one project, applying its `secrets.allow`."""

    def __init__(self, allow: Sequence[SecretAllow] = ()) -> None:
        self.allow = tuple(allow)

    def _allowed(self, file: str, finding: str) -> bool:
        return any(entry.allows(file, finding) for entry in self.allow)

    def skips(self, file: str) -> bool:
        """Say whether an entry without finding ids covers all of `file`: it is not scanned."""
        return any(entry.covers(file) and not entry.findings for entry in self.allow)

    def text(self, text: str, file: str) -> list[Problem]:
        """Return a Problem for each secret in `text` (lines ending in the marker pass)."""
        problems: list[Problem] = []
        lines = _lines(text)
        for number, line in enumerate(lines, start=1):
            if ALLOW_MARKER.search(line):
                continue
            for hit in scan_line(line):
                if hit.rule is rc.SECRET_PRIVATE_KEY:
                    hit = Hit(hit.start, _key_block(lines, number - 1), hit.kind, hit.rule)
                finding = finding_id(file, hit.secret)
                if not self._allowed(file, finding):
                    problems.append(_problem(file, number, hit.start + 1, "", hit, finding))
        return problems

    def data(self, data: bytes, file: str) -> list[Problem]:
        """Scan a file's bytes: text or not, and inside it if it is an archive."""
        if self.skips(file):
            return []
        return self._bytes(data, file, _Budget(MAX_ARCHIVE_MEMBERS, MAX_ARCHIVE_BYTES), 0)

    def _bytes(self, data: bytes, file: str, budget: _Budget, depth: int) -> list[Problem]:
        members = _archive_members(data, file, budget) if depth < MAX_ARCHIVE_DEPTH else None
        if members is None:
            problems: dict[tuple[int, int, str, str], Problem] = {}
            for text in _texts(data):
                for problem in self.text(text, file):
                    problems.setdefault(
                        (problem.line, problem.column, problem.code, problem.message), problem
                    )
            return list(problems.values())
        found: list[Problem] = []
        try:
            for name, content in members:
                member = f"{file}!{name}"
                if not self.skips(member):
                    found += self._bytes(content, member, budget, depth + 1)
        except _Unscannable as error:
            found.append(
                rc.SECRET_ARCHIVE.at(
                    file,
                    1,
                    1,
                    "",
                    f"cannot scan this archive for secrets: {error}; split it, or allow its path "
                    "in bakery.yaml secrets.allow (with the reason) once reviewed",
                )
            )
        return found

    def document(self, doc: MarkedDocument, text: str) -> list[Problem]:
        """Scan a YAML file: its raw lines and every decoded key and value (escapes, folds)."""
        if self.skips(doc.file):
            return []
        raw = self.text(text, doc.file)
        lines = _lines(text)
        decoded: list[Problem] = []
        for path, key, value in _strings(doc.data):
            mark = doc.values.get(path) if key is not None or not path else doc.keys.get(path)
            mark = mark or doc.where(path)
            key_mark = doc.keys.get(path, mark)
            if any(
                0 < n <= len(lines) and ALLOW_MARKER.search(lines[n - 1])
                for n in (mark.line, key_mark.line)
            ):
                continue
            for hit in _value_hits(key, value):
                finding = finding_id(doc.file, hit.secret)
                if not self._allowed(doc.file, finding):
                    decoded.append(
                        _problem(doc.file, mark.line, mark.column, format_path(path), hit, finding)
                    )
        return _merge(raw, decoded)


def _value_hits(key: str | None, value: str) -> list[Hit]:
    """Find the secrets of a decoded value, its key given as context (`DB_PASSWORD: ...`)."""
    hits: list[Hit] = []
    lines = _lines(value)
    for number, line in enumerate(lines):
        if ALLOW_MARKER.search(line):
            continue
        prefix = f"{key}: " if key is not None and number == 0 else ""
        for hit in scan_line(prefix + line):
            if hit.start < len(prefix):
                continue
            if hit.rule is rc.SECRET_PRIVATE_KEY:
                hit = Hit(hit.start, _key_block(lines, number), hit.kind, hit.rule)
            hits.append(hit)
    named = key is not None and is_secret_name(key) and is_literal_secret(value)
    if named and not any(hit.secret == value.strip() for hit in hits):
        hits.append(Hit(0, value.strip(), "a password or token literal", rc.SECRET_LITERAL))
    return hits


def _lines(text: str) -> list[str]:
    """Split lines as an editor numbers them (only a newline ends one)."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _merge(raw: list[Problem], decoded: list[Problem]) -> list[Problem]:
    """Report a secret found both raw and decoded once, at its raw place with its key path."""
    by_message = {(p.code, p.message): p for p in raw}
    merged: list[Problem] = []
    used: set[Problem] = set()
    for problem in decoded:
        twin = by_message.get((problem.code, problem.message))
        if twin is not None:
            used.add(twin)
            rule = rc.RULES_BY_CODE[twin.code]
            merged.append(rule.at(twin.file, twin.line, twin.column, problem.path, twin.message))
        else:
            merged.append(problem)
    decoded_lines = {(p.line, p.code) for p in merged}
    merged += [p for p in raw if p not in used and (p.line, p.code) not in decoded_lines]
    return sorted(set(merged))


def _strings(data: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, str | None, str]]:
    """Yield (path, the key it is the value of, string) for every string value, and
    (path, None, key) for every key.
    """
    if isinstance(data, Mapping):
        for key, value in data.items():
            child = (*path, key)
            yield child, None, str(key)
            if isinstance(value, str):
                yield child, str(key), value
            else:
                yield from _strings(value, child)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _strings(item, (*path, index))
    elif isinstance(data, str):
        yield path, None, data


def _key_block(lines: list[str], start: int) -> str:
    """Return a private key block, its BEGIN line and body (the finding id is of the key)."""
    block = [lines[start].strip()]
    for line in lines[start + 1 : start + 200]:
        text = line.strip()
        if ": " in text and len(block) == 1:  # a header of a PEM block (Proc-Type: ...)
            continue
        if not re.fullmatch(r"[A-Za-z0-9+/=]+", text):
            if "-----END" in text:
                block.append(text)
            break
        block.append(text)
    return "\n".join(block)


def _texts(data: bytes) -> list[str]:
    """Read bytes as the text an editor or a shell would see; UTF-16 as well when it looks so."""
    texts = [data.decode("utf-8", "replace").replace("\0", " ")]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        texts.insert(0, data.decode("utf-16", "replace"))
    elif data.count(b"\0") * 4 > len(data) > 0:
        texts += [
            data.decode(codec, "replace").replace("\0", " ") for codec in ("utf-16-le", "utf-16-be")
        ]
    return texts


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


class _Unscannable(Exception):
    pass


@dataclass
class _Budget:
    """What is left of the scan's limits for one uploaded file and the archives inside it."""

    members: int
    size: int

    def take(self, size: int) -> None:
        self.members -= 1
        self.size -= size
        if self.members < 0:
            raise _Unscannable(f"more than {MAX_ARCHIVE_MEMBERS} members")
        if self.size < 0:
            raise _Unscannable(f"more than {_mib(MAX_ARCHIVE_BYTES)} unpacked")


def _archive_members(data: bytes, file: str, budget: _Budget) -> Iterable[tuple[str, bytes]] | None:
    """Return the members of an archive lazily, or None when `data` is no archive."""
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return _zip_members(data, budget)
    if data[:2] == b"\x1f\x8b" or data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\x00":
        return _compressed_members(data, file, budget)
    if len(data) >= 512 and data[257:262] == b"ustar":
        return _tar_members(io.BytesIO(data), budget)
    return None


def _zip_members(data: bytes, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
        if len(infos) > budget.members:
            raise _Unscannable(f"more than {MAX_ARCHIVE_MEMBERS} members")
        for info in infos:
            if info.is_dir():
                continue
            budget.take(info.file_size)
            with archive.open(info) as member:
                content = member.read(budget.size + info.file_size + 1)
            if len(content) > info.file_size:
                raise _Unscannable(f"member {_shown(info.filename)} is larger than it says")
            yield _shown(info.filename), content
    except (
        zipfile.BadZipFile,
        RuntimeError,
        NotImplementedError,
        OSError,
        EOFError,
        zlib.error,
    ) as error:
        raise _Unscannable(f"not a readable zip archive ({_shown(str(error))})") from None


def _compressed_members(data: bytes, file: str, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            yield from _tar_entries(archive, budget)
            return
    except tarfile.ReadError:
        pass  # compressed, but no tar inside: one stream
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as error:
        raise _Unscannable(f"not a readable archive ({_shown(str(error))})") from None
    if data[:2] != b"\x1f\x8b":
        raise _Unscannable("a compressed stream bakery does not unpack")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            content = stream.read(budget.size + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise _Unscannable(f"not a readable gzip stream ({_shown(str(error))})") from None
    budget.take(len(content))
    name = file.rsplit("/", 1)[-1].removesuffix(".gz") or "content"
    yield _shown(name), content


def _tar_members(fileobj: io.BytesIO, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(fileobj=fileobj, mode="r:") as archive:
            yield from _tar_entries(archive, budget)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise _Unscannable(f"not a readable tar archive ({_shown(str(error))})") from None


def _tar_entries(archive: tarfile.TarFile, budget: _Budget) -> Iterator[tuple[str, bytes]]:
    while (info := archive.next()) is not None:
        budget.take(info.size if info.isfile() else 0)
        if not info.isfile():
            continue
        extracted = archive.extractfile(info)
        if extracted is None:
            continue
        yield _shown(info.name), extracted.read(info.size)


def _shown(text: str) -> str:
    return shown(text)


# -- the project as a whole -----------------------------------------------------------------


def scan_text(text: str, file: str, allow: Sequence[SecretAllow] = ()) -> list[Problem]:
    """Return a Problem for each line of `text` that seems to hold a secret."""
    return Scanner(allow).text(text, file)


def scan_bytes(data: bytes, file: str, allow: Sequence[SecretAllow] = ()) -> list[Problem]:
    """Scan a file's bytes (binary or not, an archive inside)."""
    return Scanner(allow).data(data, file)


def scan_yaml(
    doc: MarkedDocument | None, text: str, file: str, allow: Sequence[SecretAllow] = ()
) -> list[Problem]:
    """Scan a YAML file: its decoded values when it parsed, its raw lines in any case."""
    scanner = Scanner(allow)
    if doc is None or scanner.skips(file):
        return [] if scanner.skips(file) else scanner.text(text, file)
    return scanner.document(doc, text)


def scan_project_file(path: Path, allow: Sequence[SecretAllow] = ()) -> list[Problem]:
    """Scan bakery.yaml (already checked by `load_project`): its tags reach the images."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []  # load_project has read it; a file gone since is not a secret
    doc, _ = load_marked(text, path.name)
    return scan_yaml(doc, text, path.name, allow)
