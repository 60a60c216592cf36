"""The fault proxy of the fault-injection tests (tests/support/fault_proxy.py), before the emulator.

Its own tests live beside the emulator's: it stands in front of it, as an unreliable AWS would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from tests.support.fault_proxy import THROTTLING, UNAVAILABLE, FaultProxy, fault_proxy


@pytest.fixture
def proxy(shared_emulator: Any) -> Iterator[FaultProxy]:
    with fault_proxy(shared_emulator.endpoint_url) as running:
        yield running


def client(proxy: FaultProxy, service: str, region: str = "us-east-1", attempts: int = 1) -> Any:
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=proxy.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def test_a_failed_call_gets_the_aws_error_of_its_protocol_and_a_retry_gets_through(
    proxy: FaultProxy,
) -> None:
    proxy.fail("DescribeRegions", times=1, fault=THROTTLING)
    with pytest.raises(ClientError) as raised:
        client(proxy, "ec2").describe_regions()
    assert raised.value.response["Error"]["Code"] == "RequestLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    proxy.fail("DescribeRegions", times=2, fault=UNAVAILABLE)
    assert client(proxy, "ec2", attempts=3).describe_regions()["Regions"]
    assert proxy.seen("DescribeRegions") == 4
    assert proxy.access_keys() == {"testing"}


def test_a_rule_matches_the_target_of_a_json_protocol_and_the_region_of_the_signature(
    proxy: FaultProxy,
) -> None:
    proxy.fail("GetParameters", times=5, fault=UNAVAILABLE, region="eu-west-1")
    assert client(proxy, "ssm", "us-east-1").get_parameters(Names=["/nothing"])
    with pytest.raises(ClientError) as raised:
        client(proxy, "ssm", "eu-west-1").get_parameters(Names=["/nothing"])
    assert raised.value.response["Error"]["Code"] == "Unavailable"
    assert proxy.seen("GetParameters", "eu-west-1") == 1
    assert proxy.seen("GetParameters") == 2
    assert proxy.counts() == {"GetParameters": 2}


def test_a_dropped_answer_is_lost_after_the_call_took_effect(proxy: FaultProxy) -> None:
    proxy.drop("PutParameter", region="eu-west-1")
    ssm = client(proxy, "ssm", "eu-west-1")
    with pytest.raises(ConnectionClosedError):
        ssm.put_parameter(Name="/fault/dropped", Value="made", Type="String", Overwrite=True)
    assert ssm.get_parameter(Name="/fault/dropped")["Parameter"]["Value"] == "made"
    ssm.delete_parameter(Name="/fault/dropped")


def test_a_held_call_is_answered_only_once_released(proxy: FaultProxy) -> None:
    hold = proxy.hold("DescribeRegions")
    answers: list[Any] = []
    call = threading.Thread(target=lambda: answers.append(client(proxy, "ec2").describe_regions()))
    call.start()
    assert hold.wait_arrived(1, timeout=30)
    assert answers == []  # the handler waits on the hold: nothing can answer the call yet
    hold.release()
    call.join(timeout=30)
    assert answers and answers[0]["Regions"]
    assert client(proxy, "ec2").describe_regions()["Regions"]  # the hold was for one call
    assert hold.arrived == 1
