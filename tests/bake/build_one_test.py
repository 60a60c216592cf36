"""What one build sets and checks around Packer (bakery.bake.build_one): the image settings
bakery applies itself on Packer 1.6, the boot mode and TPM check of the source, and who the
images are shared with."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bakery.aws.build_images import ImageSettings
from bakery.bake.bake_plan import plan_bake
from bakery.bake.build_one import _check_boot, image_settings, shared_with
from bakery.bake.context import BakeContext
from bakery.bake.execute import execute
from bakery.config.git import GitState
from bakery.config.recipe import Recipe
from bakery.errors import BakeryError
from bakery.lineage.records import Status
from bakery.lineage.sqlite.store import SqliteStore
from bakery.ui.progress import Progress
from tests.support.images import BASE_AMI, FakeBuildImages
from tests.support.records import ami_source, make_record
from tests.support.rendering import PROJECT, catalog_of, recipe_project

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
ORGANIZATION = "arn:aws:organizations::111122223333:organization/o-exampleorg1"
UNIT = "arn:aws:organizations::111122223333:ou/o-exampleorg1/ou-ab12-workload1"
SHARING = PROJECT + f"share_allowlist: ['{ACCOUNT}', '{ORGANIZATION}', '{UNIT}']\n"
DISTRIBUTE = {
    "accounts": [ACCOUNT],
    "organizations": [ORGANIZATION],
    "organizational_units": [UNIT],
}


def loaded(root: Path, recipe: dict[str, object], project: str = SHARING) -> Recipe:
    return catalog_of(recipe_project(root, recipe, project=project)).recipes["r"]


def test_on_16_bakery_requires_imdsv2_of_the_image_by_default(tmp_path: Path) -> None:
    assert image_settings(loaded(tmp_path, {}), "1.6", NOW) == ImageSettings(imds_v2=True)


def test_on_16_bakery_deprecates_and_shares_with_organizations_itself(tmp_path: Path) -> None:
    recipe = loaded(
        tmp_path,
        {
            "build": {"deprecate_after_days": 30, "kms_key_id": "alias/shared"},
            "distribute": DISTRIBUTE,
        },
    )
    settings = image_settings(recipe, "1.6", NOW)
    assert settings.deprecate_at == NOW + timedelta(days=30)
    # Accounts are Packer's (ami_users); organizations and units are bakery's on 1.6.
    assert settings.share_with == (ORGANIZATION, UNIT)
    assert settings.imds_v2 and not settings.empty


def test_on_16_imds_support_none_leaves_the_image_as_it_is(tmp_path: Path) -> None:
    recipe = loaded(tmp_path, {"build": {"imds_support": "none"}})
    assert image_settings(recipe, "1.6", NOW).empty


def test_on_17_packer_sets_all_of_it(tmp_path: Path) -> None:
    recipe = loaded(
        tmp_path,
        {
            "build": {"deprecate_after_days": 30, "kms_key_id": "alias/shared"},
            "distribute": DISTRIBUTE,
        },
    )
    assert image_settings(recipe, "1.7+", NOW).empty


def test_shared_with_names_accounts_organizations_and_units(tmp_path: Path) -> None:
    recipe = loaded(tmp_path, {"build": {"kms_key_id": "alias/shared"}, "distribute": DISTRIBUTE})
    assert shared_with(recipe) == (ACCOUNT, ORGANIZATION, UNIT)


class BootingImages(FakeBuildImages):
    """Sources that boot as `boot` says, and count how often they are asked."""

    def __init__(self, boot: tuple[str | None, str | None]) -> None:
        super().__init__()
        self.boot = boot
        self.asked: list[str] = []

    def boot_of(self, region: str, ami_id: str) -> tuple[str | None, str | None]:
        self.asked.append(ami_id)
        return self.boot


def context(
    root: Path, images: FakeBuildImages, *, local: bool = False, out: io.StringIO | None = None
) -> BakeContext:
    return BakeContext(
        catalog=catalog_of(root),
        images=images,
        store=SqliteStore(root / "lineage.db"),
        progress=Progress(out or io.StringIO()),
        dialect="1.6",
        packer_version="1.6.6",
        git=GitState(None, False),
        local=local,
    )


def check(
    tmp_path: Path,
    build: dict[str, str],
    boot: tuple[str | None, str | None],
    *,
    local: bool = False,
    out: io.StringIO | None = None,
) -> BootingImages:
    root = recipe_project(tmp_path, {"build": build})
    images = BootingImages(boot)
    ctx = context(root, images, local=local, out=out)
    record = make_record("r", source=ami_source(BASE_AMI))
    _check_boot(ctx, ctx.catalog.recipes["r"], record)
    return images


@pytest.mark.parametrize("source", ["legacy-bios", "uefi"])
def test_uefi_preferred_needs_a_source_that_prefers_uefi(tmp_path: Path, source: str) -> None:
    # The image boots as its source: only a uefi-preferred source makes a uefi-preferred image.
    with pytest.raises(BakeryError, match=f"boots {source}"):
        check(tmp_path, {"boot_mode": "uefi-preferred"}, (source, None))


def test_uefi_is_refused_for_a_source_that_boots_legacy_bios(tmp_path: Path) -> None:
    with pytest.raises(BakeryError) as caught:
        check(tmp_path, {"boot_mode": "uefi"}, ("legacy-bios", None))
    assert str(caught.value) == (
        f"boot_mode uefi: the source {BASE_AMI} boots legacy-bios, and an amazon-ebs image boots "
        "as its source; choose a source that boots so, or drop boot_mode"
    )


@pytest.mark.parametrize(
    ("wanted", "source"),
    [
        ("uefi-preferred", "uefi-preferred"),
        ("uefi", "uefi"),
        ("uefi", "uefi-preferred"),
        ("legacy-bios", "uefi-preferred"),
        ("legacy-bios", "legacy-bios"),
    ],
)
def test_a_boot_mode_the_source_can_give_is_accepted(
    tmp_path: Path, wanted: str, source: str
) -> None:
    assert check(tmp_path, {"boot_mode": wanted}, (source, None)).asked == [BASE_AMI]


def test_a_source_without_a_boot_mode_boots_as_its_architecture_does(tmp_path: Path) -> None:
    # EC2 leaves BootMode unset on many images: x86_64 ones boot legacy BIOS, arm64 ones UEFI.
    with pytest.raises(BakeryError, match="boots legacy-bios"):
        check(tmp_path / "x86", {"boot_mode": "uefi"}, (None, None))
    check(tmp_path / "arm", {"boot_mode": "uefi", "architecture": "arm64"}, (None, None))


def test_tpm_support_is_refused_for_a_source_without_tpm(tmp_path: Path) -> None:
    with pytest.raises(BakeryError, match=r"tpm_support v2\.0: the source .* has no TPM support"):
        check(tmp_path, {"tpm_support": "v2.0"}, ("uefi", None))


def test_tpm_support_of_a_source_with_tpm_is_accepted(tmp_path: Path) -> None:
    check(tmp_path, {"boot_mode": "uefi", "tpm_support": "v2.0"}, ("uefi", "v2.0"))


def test_tpm_support_in_local_mode_is_a_note_when_the_emulator_says_nothing(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    check(tmp_path, {"tpm_support": "v2.0"}, ("uefi", None), local=True, out=out)
    assert "the emulator does not report TPM support" in out.getvalue()


def test_without_boot_settings_the_source_is_not_asked(tmp_path: Path) -> None:
    assert check(tmp_path, {}, ("legacy-bios", None)).asked == []


def test_a_refused_boot_mode_fails_the_build_before_packer_runs(tmp_path: Path) -> None:
    ran = tmp_path / "packer-ran"
    packer = tmp_path / "packer"
    packer.write_text(f"#!{sys.executable}\nopen({str(ran)!r}, 'w').close()\n")
    packer.chmod(0o755)
    project = PROJECT + f"packer: {{binary: {packer}, dialect: '1.6'}}\n"
    root = recipe_project(tmp_path / "project", {"build": {"boot_mode": "uefi"}}, project=project)
    ctx = context(root, BootingImages(("legacy-bios", None)))
    (outcome,) = execute(ctx, plan_bake(ctx, ["r"], force=False), jobs=1)
    assert outcome.result == "failed"
    assert "boot_mode uefi" in outcome.detail
    assert not ran.exists()
    (record,) = ctx.store.builds("r")
    assert record.status is Status.FAILED and "boot_mode uefi" in (record.error or "")
