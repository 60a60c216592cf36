"""Who launch permission may go to (bakery.lifecycle.gates.grant_problems): accounts,
organizations and organizational units of share_allowlist, never everyone."""

from __future__ import annotations

import pytest

from bakery.lifecycle.gates import grant_problems

ACCOUNT = "111122223333"
ORGANIZATION = "arn:aws:organizations::111122223333:organization/o-exampleorg1"
UNIT = "arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-workload1"
GOV_ORGANIZATION = "arn:aws-us-gov:organizations::111122223333:organization/o-exampleorg1"
ALLOWLIST = (ACCOUNT, ORGANIZATION, UNIT, GOV_ORGANIZATION)


def test_allowlisted_accounts_organizations_and_units_may_be_granted() -> None:
    assert grant_problems([ACCOUNT, ORGANIZATION, UNIT, GOV_ORGANIZATION], ALLOWLIST) == []


@pytest.mark.parametrize(
    "target",
    [
        "arn:aws:organizations::444455556666:organization/o-otherorg123",
        "arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-other0001",
    ],
)
def test_an_organization_or_unit_not_allowlisted_is_refused(target: str) -> None:
    (problem,) = grant_problems([target], ALLOWLIST)
    assert f"{target} is not in share_allowlist of bakery.yaml" in problem


@pytest.mark.parametrize("everyone", ["all", "ALL", " all "])
def test_everyone_is_refused_even_when_allowlisted(everyone: str) -> None:
    (problem,) = grant_problems([everyone], [*ALLOWLIST, everyone])
    assert "would make the image public" in problem


@pytest.mark.parametrize(
    "target",
    [
        ORGANIZATION + "\n",
        ORGANIZATION.replace("organization/", "organisation/"),
        "arn:aws:organizations::111122223333:organization/o-",
        "arn:aws:organizations::1111:organization/o-exampleorg1",
        "o-exampleorg1",
    ],
)
def test_what_is_no_account_nor_organization_arn_is_refused(target: str) -> None:
    (problem,) = grant_problems([target], [*ALLOWLIST, target])
    assert "is not an AWS account id (12 digits) nor the ARN of an organization" in problem


def test_each_refused_target_is_named_once() -> None:
    other = "arn:aws:organizations::444455556666:organization/o-otherorg123"
    found = grant_problems([ORGANIZATION, "all", other, ACCOUNT], ALLOWLIST)
    assert len(found) == 2 and "public" in found[0] and other in found[1]
