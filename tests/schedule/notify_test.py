from __future__ import annotations

import json
from typing import Any

from moto import mock_aws

from bakery.aws.session import AwsSettings, Gateway
from bakery.schedule.notify import notify


def test_webhook_receives_the_summary(webhook: tuple[str, list[Any]]) -> None:
    url, received = webhook
    payload = {"command": "rebuild", "result": "succeeded", "builds": [{"recipe": "web"}]}
    assert notify(payload, webhook=url, sns_topic=None, gateway=None) == []
    assert received == [payload]


def test_unreachable_webhook_is_a_problem_not_a_crash() -> None:
    problems = notify(
        {"result": "failed"}, webhook="http://127.0.0.1:9/none", sns_topic=None, gateway=None
    )
    assert len(problems) == 1 and problems[0].startswith("webhook http://127.0.0.1:9/***: ")


def test_failing_webhook_never_shows_its_token() -> None:
    token = "T0KEN" + "s3cr3t"
    for url in (
        f"http://bakery:{token}@127.0.0.1:9/hooks/{token}?token={token}",
        f"hxxp://127.0.0.1:9/{token}",  # urllib names the whole URL in its error
    ):
        problems = notify({"result": "failed"}, webhook=url, sns_topic=None, gateway=None)
        assert len(problems) == 1 and token not in problems[0], problems


def test_sns_topic_receives_the_summary() -> None:
    with mock_aws():
        gateway = Gateway(AwsSettings("us-east-1"))
        sns = gateway.client("sns")
        topic = sns.create_topic(Name="bakery")["TopicArn"]
        sqs = gateway.client("sqs")
        queue = sqs.create_queue(QueueName="q")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
        assert (
            notify(
                {"command": "rebuild", "result": "failed"},
                webhook=None,
                sns_topic=topic,
                gateway=gateway,
            )
            == []
        )
        message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
        assert json.loads(message["Message"]) == {"command": "rebuild", "result": "failed"}
