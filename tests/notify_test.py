from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from moto import mock_aws

from bakery.aws.session import AwsSettings, Gateway
from bakery.notify import notify


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any]]]:
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_receives_the_summary(webhook: tuple[str, list[Any]]) -> None:
    url, received = webhook
    payload = {"command": "rebuild", "result": "succeeded", "builds": [{"recipe": "web"}]}
    assert notify(payload, webhook=url, sns_topic=None, gateway=None) == []
    assert received == [payload]


def test_unreachable_webhook_is_a_problem_not_a_crash() -> None:
    problems = notify(
        {"result": "failed"}, webhook="http://127.0.0.1:9/none", sns_topic=None, gateway=None
    )
    assert len(problems) == 1 and problems[0].startswith("webhook http://127.0.0.1:9/none: ")


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
