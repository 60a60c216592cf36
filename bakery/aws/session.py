"""One session, clients made on demand per service and region, errors turned into one line."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bakery.errors import BakeryError

MAX_ATTEMPTS = 10  # every call, its first attempt included (botocore: total_max_attempts)


class AwsError(BakeryError):
    """An AWS call failed; the message names the call, the region and the resource."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AwsSettings:
    region: str
    profile: str | None = None
    endpoint_url: str | None = None
    local: bool = False  # the emulator: dummy credentials, never a real account

    @property
    def credentials(self) -> dict[str, str]:
        """Credentials to give boto3 and Packer explicitly (only in local mode)."""
        if not self.local:
            return {}
        return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class Gateway:
    """Clients from one boto3 session, made when first asked for; safe to share across threads."""

    def __init__(self, settings: AwsSettings, credentials: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._credentials = dict(credentials or settings.credentials)
        self._lock = threading.Lock()
        self._session: Any = None
        self._clients: dict[tuple[str, str], Any] = {}
        self._account: str | None = None

    @property
    def region(self) -> str:
        return self.settings.region

    def client(self, service: str, region: str | None = None) -> Any:
        """Return a client of `service` in `region` (the build region by default)."""
        region = region or self.settings.region
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = self._new_client(service, region)
            return self._clients[key]

    def _new_client(self, service: str, region: str) -> Any:
        import boto3
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session(
                profile_name=None if self._credentials else self.settings.profile,
                **self._credentials,
            )
        # Adaptive mode adds client-side rate limiting on throttling errors to the retries.
        config = Config(
            retries={"mode": "adaptive", "total_max_attempts": MAX_ATTEMPTS},
            connect_timeout=10,
            read_timeout=60,
        )
        return self._session.client(
            service, region_name=region, endpoint_url=self.settings.endpoint_url, config=config
        )

    def assume(self, account: str, role_arns: Mapping[str, str]) -> Gateway:
        """Return a gateway acting in another account through its role (aws.accounts)."""
        role = role_arns.get(account)
        if role is None:
            raise AwsError(
                f"no role for account {account}; add aws.accounts.{account}.role_arn to bakery.yaml"
            )
        with calling("sts", "AssumeRole", self.region, role):
            answer = self.client("sts").assume_role(RoleArn=role, RoleSessionName="bakery")
        keys = answer["Credentials"]
        return Gateway(
            self.settings,
            {
                "aws_access_key_id": keys["AccessKeyId"],
                "aws_secret_access_key": keys["SecretAccessKey"],
                "aws_session_token": keys["SessionToken"],
            },
        )

    def account_id(self) -> str:
        """Return the account the credentials belong to."""
        if self._account is None:
            with calling("sts", "GetCallerIdentity", self.region):
                self._account = str(self.client("sts").get_caller_identity()["Account"])
        return self._account


@contextmanager
def calling(service: str, operation: str, region: str, resource: str = "") -> Iterator[None]:
    """Turn botocore errors inside the block into an AwsError naming call, region and resource."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from botocore.parsers import ResponseParserError

    where = f"{service} {operation} in {region}" + (f" for {resource}" if resource else "")
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        text = error.response.get("Error", {}).get("Message", str(error))
        hint = _HINTS.get(code, "")
        raise AwsError(f"{where}: {code}: {text}{hint}", code) from error
    except NoCredentialsError as error:
        raise AwsError(
            f"{where}: no AWS credentials; set a profile (aws.profile) or run with --local"
        ) from error
    except BotoCoreError as error:
        raise AwsError(f"{where}: {error}") from error
    except ResponseParserError as error:
        first = str(error).splitlines()[0] if str(error) else "unreadable answer"
        raise AwsError(
            f"{where}: the endpoint sent an answer botocore cannot read ({first})",
            "ResponseParserError",
        ) from error


_HINTS = {
    "AccessDenied": "; the credentials lack this permission",
    "UnauthorizedOperation": "; the credentials lack this permission",
    "AuthFailure": "; check the credentials and the region",
    "InvalidAMIID.NotFound": "; the image does not exist in this region or is not visible",
    "InvalidAMIID.Malformed": "; not an AMI id",
    "ParameterNotFound": "; check the parameter name and the region",
}


def known_regions() -> frozenset[str]:
    """Return the names of every AWS region of every partition botocore knows (no network call).

    From the endpoint data bundled with botocore, so a new region arrives with a botocore update.
    """
    from botocore.loaders import create_loader

    data = create_loader().load_data("endpoints")
    return frozenset(
        region
        for partition in data.get("partitions", [])
        for region in partition.get("regions", {})
    )
