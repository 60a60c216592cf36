"""Send the JSON summary of a run to the webhook or SNS topic named in bakery.yaml."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from bakery.aws.session import AwsError, Gateway, calling
from bakery.errors import redact_urls

WEBHOOK_TIMEOUT = 10


def notify(
    payload: Mapping[str, Any],
    *,
    webhook: str | None,
    sns_topic: str | None,
    gateway: Gateway | None,
) -> list[str]:
    """Deliver `payload` everywhere configured; return one line per delivery that failed."""
    body = json.dumps(payload, sort_keys=True, default=str)
    problems: list[str] = []
    if webhook:
        # A webhook URL is a credential (its path or query holds the token): never print it.
        shown = redact_urls(webhook, paths=False)
        request = urllib.request.Request(
            webhook,
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "bakery"},
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as answer:
                if not 200 <= answer.status < 300:
                    problems.append(f"webhook {shown}: answered {answer.status}")
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = redact_urls(str(error).replace(webhook, shown), paths=False)
            problems.append(f"webhook {shown}: {reason}")
    if sns_topic and gateway is not None:
        region = sns_topic.split(":")[3] if sns_topic.count(":") >= 5 else gateway.region
        subject = f"bakery {payload.get('command', 'run')}: {payload.get('result', '')}"[:100]
        try:
            with calling("sns", "Publish", region, sns_topic):
                gateway.client("sns", region).publish(
                    TopicArn=sns_topic, Message=body, Subject=subject
                )
        except AwsError as error:
            problems.append(redact_urls(str(error)))
    return problems
