"""The recipe and project formats as JSON Schema: the one source of truth for their shape.

Validation runs these schemas; `bakery schema` prints the recipe one for editors. Rules a schema
cannot say well (files exist, names resolve, no cycles, secrets) live in `bakery.config.rules`.
Each finding of a schema keyword has the rule code `bakery.config.rule_codes.SCHEMA_KEYWORDS`
gives it.
"""

from __future__ import annotations

from typing import Any

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
AMI_PATTERN = r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$"
ACCOUNT_PATTERN = r"^[0-9]{12}$"
DURATION_PATTERN = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
KMS_PATTERN = (
    r"^(alias/[A-Za-z0-9/_-]+"
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+"
    r"|[0-9a-f-]{36})$"
)
# A rule code of bakery.config.rule_codes; with maxLength 5, so no trailing newline gets through.
RULE_CODE_PATTERN = r"^[EW][0-9]{4}$"
NOT_BLANK_PATTERN = r"\S"
MAX_TAGS = 50

_string = {"type": "string", "minLength": 1}
_duration = {"type": "string", "pattern": DURATION_PATTERN, "minLength": 2}
_retention = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "keep": {"type": "integer", "minimum": 1},
        "max_age_days": {"type": "integer", "minimum": 1},
    },
    "description": "prune keeps the newest `keep` images; older ones only past max_age_days.",
}
_channel_name = {"type": "string", "pattern": NAME_PATTERN, "maxLength": 63}
_strings = {"type": "array", "items": _string}
_region = {"type": "string", "pattern": REGION_PATTERN}
_account = {"type": "string", "pattern": ACCOUNT_PATTERN}
_env = {
    "type": "object",
    "propertyNames": {"pattern": ENV_NAME_PATTERN},
    "additionalProperties": {"type": "string"},
    "description": "Environment variables exported to the steps (strings; quote numbers).",
}
_tags = {
    "type": "object",
    "maxProperties": MAX_TAGS,
    "propertyNames": {
        "minLength": 1,
        "maxLength": 128,
        "not": {"pattern": "^(aws|bakery):"},
    },
    "additionalProperties": {"type": "string", "maxLength": 256},
    "description": "Tags added to the image and its snapshots (at most 50 in all, AWS limits).",
}

BUILD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "instance_type": {"type": "string", "pattern": r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"},
        "ssh_username": {"type": "string", "pattern": r"^[a-z_][a-z0-9_-]*$"},
        "volume_size": {"type": "integer", "minimum": 1, "maximum": 16384},
        "volume_type": {"enum": ["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]},
        "root_device": {"type": "string", "pattern": r"^/dev/[a-z0-9]+$"},
        "encrypted": {"type": "boolean"},
        "kms_key_id": {"type": "string", "pattern": KMS_PATTERN},
        "timeout": _duration,
        "subnet_id": {"type": "string", "pattern": r"^subnet-[0-9a-f]+$"},
        "security_group_ids": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^sg-[0-9a-f]+$"},
        },
        "iam_instance_profile": {"type": "string", "pattern": r"^[A-Za-z0-9+=,.@_/:-]+$"},
        "associate_public_ip_address": {"type": "boolean"},
    },
}

_step_env = {"env": _env}
RECIPE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://bakery.dev/schemas/recipe.schema.json",
    "title": "bakery recipe",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "layer", "version", "source"],
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 63},
        "layer": {"enum": ["base", "hardening", "app"]},
        "version": {"type": "string", "pattern": SEMVER_PATTERN},
        "description": {"type": "string", "maxLength": 255},
        "source": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "ssm_parameter": {"type": "string", "pattern": r"^/[A-Za-z0-9_./-]+$"},
                "ami": {"type": "string", "pattern": AMI_PATTERN},
                "filter": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["owners", "name"],
                    "properties": {
                        "owners": {"type": "array", "minItems": 1, "items": _string},
                        "name": _string,
                        "architecture": {"enum": ["x86_64", "arm64"]},
                    },
                },
                "recipe": {"type": "string", "pattern": NAME_PATTERN},
            },
            "oneOf": [
                {"required": [kind]} for kind in ("ssm_parameter", "ami", "filter", "recipe")
            ],
        },
        "build": BUILD_SCHEMA,
        "environment": _env,
        "provision": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "script": _string,
                    "inline": {"type": "array", "minItems": 1, "items": _string},
                    "file": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["source", "destination"],
                        "properties": {"source": _string, "destination": _string},
                    },
                    **_step_env,
                },
                "oneOf": [{"required": [kind]} for kind in ("script", "inline", "file")],
            },
        },
        "distribute": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "regions": {"type": "array", "items": _region, "uniqueItems": True},
                "accounts": {"type": "array", "items": _account, "uniqueItems": True},
                "kms_key_ids": {
                    "type": "object",
                    "propertyNames": {"pattern": REGION_PATTERN},
                    "additionalProperties": {"type": "string", "pattern": KMS_PATTERN},
                },
            },
        },
        "tests": _strings,
        "tags": _tags,
        "licensing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"shareable": {"type": "boolean"}},
            "description": "shareable: true allows sharing an image with AWS Marketplace "
            "product codes in its lineage (you hold the license terms that allow it).",
        },
        "retention": _retention,
        "max_age": {
            **_duration,
            "description": "rebuild when the newest image is older (e.g. 30d)",
        },
        "hygiene": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "skip": {"type": "boolean"},
                "reason": {"type": "string", "minLength": 1, "maxLength": 256},
            },
        },
    },
}

PROJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "recipes": _string,
        "state": {"type": "string", "pattern": r"^(sqlite:.+|dynamodb://.+)$"},
        "aws": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "region": _region,
                "profile": _string,
                "endpoint_url": {"type": "string", "pattern": r"^https?://"},
                "accounts": {
                    "type": "object",
                    "propertyNames": {"pattern": ACCOUNT_PATTERN},
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["role_arn"],
                        "properties": {
                            "role_arn": {"type": "string", "pattern": r"^arn:aws[a-z-]*:iam::"},
                        },
                    },
                },
            },
        },
        "kms_key_ids": {
            "type": "object",
            "propertyNames": {"pattern": REGION_PATTERN},
            "additionalProperties": {"type": "string", "pattern": KMS_PATTERN},
        },
        "share_allowlist": {"type": "array", "items": _account, "uniqueItems": True},
        "channels": {
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERN, "maxLength": 63},
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "requires": _channel_name,
                    "smoke_test": {"type": "boolean"},
                    "regions": {"type": "array", "items": _region, "uniqueItems": True},
                    "accounts": {"type": "array", "items": _account, "uniqueItems": True},
                },
            },
        },
        "test": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "subnet_id": {"type": "string", "pattern": r"^subnet-[0-9a-f]+$"},
                "instance_type": {"type": "string", "pattern": r"^[a-z][a-z0-9-]*\.[a-z0-9]+$"},
                "iam_instance_profile": {"type": "string", "pattern": r"^[A-Za-z0-9+=,.@_/:-]+$"},
                "security_group_ids": {
                    "type": "array",
                    "items": {"type": "string", "pattern": r"^sg-[0-9a-f]+$"},
                },
                "timeout": _duration,
            },
        },
        "retention": _retention,
        "max_age": _duration,
        "notify": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "webhook": {"type": "string", "pattern": r"^https?://"},
                "sns_topic": {"type": "string", "pattern": r"^arn:aws[a-z-]*:sns:"},
            },
        },
        "defaults": BUILD_SCHEMA,
        "trusted_owners": {
            "type": "array",
            "items": {"anyOf": [_account, {"enum": ["self", "amazon", "aws-marketplace"]}]},
        },
        "tags": _tags,
        "rules": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "ignore": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["code", "reason"],
                        "properties": {
                            "code": {
                                "type": "string",
                                "pattern": RULE_CODE_PATTERN,
                                "maxLength": 5,
                            },
                            "reason": {
                                "type": "string",
                                "pattern": NOT_BLANK_PATTERN,
                                "maxLength": 500,
                            },
                        },
                    },
                },
            },
            "description": "ignore: warnings (W codes, see docs/rules.md) not to report, each "
            "with the reason why it does not apply.",
        },
        "packer": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "dialect": {"enum": ["auto", "1.6", "1.7+"]},
                "binary": _string,
            },
        },
        "bake": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "jobs": {"type": "integer", "minimum": 1, "maximum": 64},
                "attempts": {"type": "integer", "minimum": 1, "maximum": 10},
                "retry_delay": _duration,
                "cancel_grace": _duration,
                "lease_ttl": _duration,
            },
        },
    },
}
