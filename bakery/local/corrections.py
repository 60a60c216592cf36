"""The few corrections bakery makes to moto, applied inside the emulator before it serves.

Each correction is one small function that says why it exists. Only what breaks the real
Packer or bakery's own calls is corrected here; gaps bakery works around itself (moto's
missing EnableImageDeprecation, `copy_image` not copying tags) are left as moto has them.
"""

from __future__ import annotations

import functools
from typing import Any

_MARK = "_bakery_corrected"


def report_images_as_ebs_backed() -> None:
    """Make images moto creates (create, register, copy) report RootDeviceType `ebs`.

    moto 5.2's `Ami.__init__` defaults `root_device_type` to "standard", a value EC2 never
    returns (it is `ebs` or `instance-store`), and every image moto makes has an EBS snapshot
    anyway. Packer's amazon-ebs builder refuses such an image as `source_ami` ("The provided
    source AMI has an invalid root device type. Expected 'ebs', got 'standard'."), so a child
    layer could not build on its parent. The check is `ExpectedRootDevice` in
    https://github.com/hashicorp/packer-plugin-amazon/blob/main/builder/common/step_run_source_instance.go
    and the default is in moto/ec2/models/amis.py (class Ami).
    """
    from moto.ec2.models.amis import Ami

    original = Ami.__init__
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.root_device_type == "standard":
            self.root_device_type = "ebs"

    setattr(init, _MARK, True)
    Ami.__init__ = init  # type: ignore[method-assign]


def serialise_dynamodb_requests() -> None:
    """Handle one DynamoDB request at a time, as DynamoDB serialises the writes to an item.

    moto evaluates a ConditionExpression and then writes, with nothing keeping the server's
    threads apart in between (moto/dynamodb/models/table.py, put_item and update_item), so two
    runners racing for the same lease or build record could both pass a condition that DynamoDB
    would let only one pass. bakery's DynamoDB store relies on those conditions.
    """
    import threading

    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, _MARK, False):
        return
    lock = threading.Lock()

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    setattr(call_action, _MARK, True)
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def honour_copy_image_client_tokens() -> None:
    """Answer a repeated CopyImage with the same ClientToken with the image the first made.

    EC2 makes CopyImage idempotent by its ClientToken ("Ensuring idempotency" in the EC2 API
    reference): a retry after a lost answer returns the same image. moto 5.2 ignores the token
    (moto/ec2/responses/amis.py, copy_image), so the retry botocore makes after a lost answer
    left a second, untagged copy in the emulator that real EC2 never makes.
    """
    from moto.core.responses import ActionResult
    from moto.ec2.responses.amis import AmisResponse

    original = AmisResponse.copy_image
    if getattr(original, _MARK, False):
        return
    made: dict[tuple[str, str, str], str] = {}

    @functools.wraps(original)
    def copy_image(self: Any) -> Any:
        token = self._get_param("ClientToken")
        key = (self.current_account, self.region, str(token))
        if token and key in made and made[key] in self.ec2_backend.amis:
            return ActionResult({"ImageId": made[key]})
        answer = original(self)
        result: Any = answer.result
        if token:
            made[key] = str(result["ImageId"])
        return answer

    setattr(copy_image, _MARK, True)
    AmisResponse.copy_image = copy_image  # type: ignore[method-assign]


def apply_corrections() -> None:
    """Apply every correction to moto; calling it again changes nothing."""
    report_images_as_ebs_backed()
    serialise_dynamodb_requests()
    honour_copy_image_client_tokens()
