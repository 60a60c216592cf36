"""The recipe and project formats as JSON Schema: the one source of truth for their shape.

Validation runs these schemas; `bakery schema` prints the recipe one for editors. Rules a schema
cannot say well (files exist, names resolve, no cycles, secrets) live in `bakery.config.rules`.
Each finding of a schema keyword has the rule code `bakery.config.rule_codes.SCHEMA_KEYWORDS`
gives it.
"""

from __future__ import annotations

from typing import Any

# Every pattern is anchored with \A and \Z: jsonschema's `pattern` searches, and `$` would match
# before a trailing newline (tests/config/schema_test.py checks that every pattern is anchored).
NAME_PATTERN = r"\A[a-z0-9][a-z0-9-]*\Z"
SEMVER_PATTERN = (
    r"\A(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)
# source.recipe: a recipe or instance name, optionally with a selector `[param=value,...]`.
RECIPE_REF_PATTERN = (
    r"\A[a-z0-9][a-z0-9._-]*(\[[a-z_][a-z0-9_]*=[^\[\],=]+(,[a-z_][a-z0-9_]*=[^\[\],=]+)*\])?\Z"
)
AMI_PATTERN = r"\Aami-([0-9a-f]{8}|[0-9a-f]{17})\Z"
_REGION = r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]"
REGION_PATTERN = rf"\A{_REGION}\Z"
ACCOUNT_PATTERN = r"\A[0-9]{12}\Z"
# A duration greater than zero (a timeout, a max age, a lease), each part at most 6 digits.
DURATION_PATTERN = (
    r"\A(?=[0-9dhms]*[1-9])([0-9]{1,6}d)?([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?\Z"
)
# A delay, which may be zero (bake.retry_delay, bake.cancel_grace).
DELAY_PATTERN = r"\A([0-9]{1,6}d)?([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?\Z"
ENV_NAME_PATTERN = r"\A[A-Za-z_][A-Za-z0-9_]*\Z"
# A KMS key as EC2 takes it: a key id (a UUID, or mrk- and 32 hex digits for a multi-Region key),
# alias/NAME, or the ARN of a key or an alias.
_KMS_KEY_ID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
_KMS_ALIAS = r"alias/[A-Za-z0-9/_-]{1,250}"
KMS_PATTERN = (
    rf"\A({_KMS_KEY_ID}|{_KMS_ALIAS}"
    rf"|arn:aws[a-z-]*:kms:{_REGION}:[0-9]{{12}}:(key/{_KMS_KEY_ID}|{_KMS_ALIAS}))\Z"
)
# Keys of the AWS managed keys (alias/aws/ebs): images encrypted with them cannot be shared.
AWS_MANAGED_KEY_PATTERN = r"\A(arn:aws[a-z-]*:kms:[^:]*:[0-9]{12}:)?alias/aws/[\s\S]*\Z"
# A rule code of bakery.config.rule_codes.
RULE_CODE_PATTERN = r"\A[EW][0-9]{4}\Z"
NOT_BLANK_PATTERN = r"\A[\s\S]*\S[\s\S]*\Z"
# Packer evaluates `{{ ... }}` as a Go template in strings of its template and in the values of
# variables, even in HCL2: a string that reaches Packer must not hold `{{`.
NO_TEMPLATE_PATTERN = r"\A(?![\s\S]*\{\{)[\s\S]*\Z"
# Tag keys bakery sets itself (Name, bakery:...) or AWS reserves (aws:...), in any case.
RESERVED_TAG_PATTERN = r"\A([Aa][Ww][Ss]:|[Bb][Aa][Kk][Ee][Rr][Yy]:)[\s\S]*\Z|\A[Nn][Aa][Mm][Ee]\Z"
# AMI names: 3 to 128 of these characters (EC2 CreateImage).
AMI_NAME_PATTERN = r"\A[A-Za-z0-9()\[\] ./'@_-]{3,128}\Z"
AMI_NAME_MAX = 128
MAX_TAGS = 50
# Characters no key or string of a recipe or bakery.yaml may hold (checked over the whole
# document by bakery.config.schema_check, keys too): C0 controls, DEL, C1 controls, line and
# paragraph separators, and the bidirectional controls that make text display in another order
# than a shell or Packer reads it (Trojan Source, CVE-2021-42574).
REFUSED_CHARACTERS = "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
# Where a TAB is ordinary text: inline commands, lines of a shell script (`<<-` heredocs).
TAB_ALLOWED: tuple[tuple[str, ...], ...] = (("provision", "*", "inline", "*"),)
# Sane maximums for numbers, so no huge integer reaches AWS or date arithmetic.
MAX_KEEP = 1000
MAX_AGE_DAYS = 36500
MAX_VERSION_LENGTH = 128

_string = {"type": "string", "minLength": 1}
# A string that reaches the Packer template (or a variable of it): no Go template in it.
_packer_string = {"type": "string", "minLength": 1, "pattern": NO_TEMPLATE_PATTERN}
_duration = {"type": "string", "pattern": DURATION_PATTERN, "minLength": 2}
_delay = {"type": "string", "pattern": DELAY_PATTERN, "minLength": 2}
_retention = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "keep": {"type": "integer", "minimum": 1, "maximum": MAX_KEEP},
        "max_age_days": {"type": "integer", "minimum": 1, "maximum": MAX_AGE_DAYS},
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
        "pattern": NO_TEMPLATE_PATTERN,
        "not": {"pattern": RESERVED_TAG_PATTERN},
    },
    "additionalProperties": {"type": "string", "maxLength": 256, "pattern": NO_TEMPLATE_PATTERN},
    "description": "Tags added to the image and its snapshots (at most 50 in all, AWS limits); "
    "keys Name, aws:... and bakery:... (in any case) are reserved.",
}

BUILD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "instance_type": {"type": "string", "pattern": r"\A[a-z][a-z0-9-]*\.[a-z0-9]+\Z"},
        "ssh_username": {"type": "string", "pattern": r"\A[a-z_][a-z0-9_-]{0,31}\Z"},
        "volume_size": {"type": "integer", "minimum": 1, "maximum": 16384},
        "volume_type": {"enum": ["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]},
        "root_device": {"type": "string", "pattern": r"\A/dev/[a-z0-9]+\Z"},
        "encrypted": {"type": "boolean"},
        "kms_key_id": {"type": "string", "pattern": KMS_PATTERN},
        "timeout": _duration,
        "subnet_id": {"type": "string", "pattern": r"\Asubnet-[0-9a-f]{8,17}\Z"},
        "security_group_ids": {
            "type": "array",
            "items": {"type": "string", "pattern": r"\Asg-[0-9a-f]{8,17}\Z"},
        },
        "iam_instance_profile": {"type": "string", "pattern": r"\A[A-Za-z0-9+=,.@_/:-]{1,2048}\Z"},
        "associate_public_ip_address": {"type": "boolean"},
    },
}

_step_env = {"env": _env}
# Parameters (bakery.config.params): `((name))` references, declarations, matrix, conditions.
PARAMETER_NAME_PATTERN = r"\A[a-z_][a-z0-9_]*\Z"
INSTANCE_NAME_PATTERN = r"\A[a-z0-9](?!.*\.\.)[a-z0-9._-]*\Z"
INSTANCE_NAME_MAX = 100
MAX_INSTANCES = 256
_scalar = {"type": ["string", "integer", "boolean"]}
_parameter = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["string", "integer", "boolean"]},
        "default": _scalar,
        "allowed": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _scalar},
        "pattern": {"type": "string", "minLength": 1, "maxLength": 256},
        "minimum": {"type": "integer"},
        "maximum": {"type": "integer"},
        "env": {"type": "string", "pattern": ENV_NAME_PATTERN},
        "description": {"type": "string", "maxLength": 255},
    },
    "description": "type (string, integer, boolean), default, allowed values, a pattern the "
    "whole value matches, minimum/maximum, env: an environment variable that may set it.",
}
PARAMETERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": 100,
    "propertyNames": {"pattern": PARAMETER_NAME_PATTERN, "maxLength": 64},
    "additionalProperties": _parameter,
    "description": "Parameters recipes use as ((name)); see docs/recipes.md.",
}
_condition = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"pattern": PARAMETER_NAME_PATTERN, "maxLength": 64},
    "additionalProperties": {
        "anyOf": [_scalar, {"type": "array", "minItems": 1, "items": _scalar}]
    },
    "description": "{param: value} or {param: [value, ...]}: every named parameter matches.",
}
_combination = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"pattern": PARAMETER_NAME_PATTERN, "maxLength": 64},
    "additionalProperties": _scalar,
}
MATRIX_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 10,
    "propertyNames": {"pattern": PARAMETER_NAME_PATTERN, "maxLength": 64},
    "properties": {
        "include": {"type": "array", "items": _combination},
        "exclude": {"type": "array", "items": _combination},
    },
    "additionalProperties": {
        "type": "array",
        "minItems": 1,
        "maxItems": 64,
        "uniqueItems": True,
        "items": _scalar,
    },
    "description": "One instance per combination of the listed values, less `exclude` "
    "(partial combinations), plus `include` (whole ones).",
}
VARIANTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "overrides": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["when"],
                "properties": {
                    "when": _condition,
                    "description": {"type": "string"},
                    "source": {"type": "object"},
                    "build": {"type": "object"},
                    "environment": {"type": "object"},
                    "tags": {"type": "object"},
                    "distribute": {"type": "object"},
                    "ami_name": {"type": "string"},
                },
                "description": "Settings merged into the instances `when` matches (mappings "
                "merge, other values replace).",
            },
        },
    },
}
VAR_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "propertyNames": {"pattern": PARAMETER_NAME_PATTERN, "maxLength": 64},
    "additionalProperties": _scalar,
}
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
        "version": {
            "type": "string",
            "pattern": SEMVER_PATTERN,
            "maxLength": MAX_VERSION_LENGTH,
        },
        "description": {"type": "string", "maxLength": 255, "pattern": NO_TEMPLATE_PATTERN},
        "source": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "ssm_parameter": {"type": "string", "pattern": r"\A/[A-Za-z0-9_./-]{1,2047}\Z"},
                "ami": {"type": "string", "pattern": AMI_PATTERN},
                "filter": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["owners", "name"],
                    "properties": {
                        "owners": {"type": "array", "minItems": 1, "items": _packer_string},
                        "name": {**_packer_string, "maxLength": 128},
                        "architecture": {"enum": ["x86_64", "arm64"]},
                    },
                },
                "recipe": {
                    "type": "string",
                    "pattern": RECIPE_REF_PATTERN,
                    "maxLength": 200,
                    "description": "a recipe, a family (the instance with the same values), "
                    "FAMILY[param=value,...], or an instance name",
                },
            },
            "oneOf": [
                {"required": [kind]} for kind in ("ssm_parameter", "ami", "filter", "recipe")
            ],
        },
        "parameters": PARAMETERS_SCHEMA,
        "matrix": MATRIX_SCHEMA,
        "variants": VARIANTS_SCHEMA,
        "ami_name": {
            "type": "string",
            "minLength": 3,
            "maxLength": 256,
            "pattern": NO_TEMPLATE_PATTERN,
            "description": "AMI name template: text and ((references)); see docs/recipes.md",
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
                        "properties": {"source": _string, "destination": _packer_string},
                    },
                    **_step_env,
                    "when": _condition,
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
                "reason": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 256,
                    "pattern": NO_TEMPLATE_PATTERN,
                },
            },
        },
    },
}

PROJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "recipes": _string,
        "parameters": PARAMETERS_SCHEMA,
        "var_files": {"type": "array", "items": _string, "uniqueItems": True},
        "state": {"type": "string", "pattern": r"\A(sqlite:.+|dynamodb://.+)\Z"},
        "aws": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "region": _region,
                "profile": _string,
                "endpoint_url": {"type": "string", "pattern": r"\Ahttps?://\S+\Z"},
                "accounts": {
                    "type": "object",
                    "propertyNames": {"pattern": ACCOUNT_PATTERN},
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["role_arn"],
                        "properties": {
                            "role_arn": {
                                "type": "string",
                                "pattern": r"\Aarn:aws[a-z-]*:iam::[0-9]{12}:role/\S+\Z",
                            },
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
                "subnet_id": {"type": "string", "pattern": r"\Asubnet-[0-9a-f]{8,17}\Z"},
                "instance_type": {"type": "string", "pattern": r"\A[a-z][a-z0-9-]*\.[a-z0-9]+\Z"},
                "iam_instance_profile": {
                    "type": "string",
                    "pattern": r"\A[A-Za-z0-9+=,.@_/:-]{1,2048}\Z",
                },
                "security_group_ids": {
                    "type": "array",
                    "items": {"type": "string", "pattern": r"\Asg-[0-9a-f]{8,17}\Z"},
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
                "webhook": {"type": "string", "pattern": r"\Ahttps?://\S+\Z"},
                "sns_topic": {"type": "string", "pattern": r"\Aarn:aws[a-z-]*:sns:\S+\Z"},
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
                            "code": {"type": "string", "pattern": RULE_CODE_PATTERN},
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
                "retry_delay": _delay,
                "cancel_grace": _delay,
                "lease_ttl": _duration,
            },
        },
        "secrets": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "allow": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["path", "reason"],
                        "properties": {
                            "path": {
                                "type": "string",
                                # relative to the project, no `..`; a folder ends in `/`
                                "pattern": r"\A(?!/)(?!.*(\A|/)\.\.(/|\Z))[^\x00-\x1f\x7f]+\Z",
                                "maxLength": 1000,
                            },
                            "reason": {
                                "type": "string",
                                "pattern": NOT_BLANK_PATTERN,
                                "maxLength": 500,
                            },
                            "findings": {
                                "type": "array",
                                "minItems": 1,
                                "uniqueItems": True,
                                "items": {
                                    "type": "string",
                                    "pattern": r"\A[0-9a-f]{16}\Z",
                                    "maxLength": 16,
                                },
                            },
                        },
                    },
                },
            },
            "description": "allow: reviewed secret findings, [{path: FILE or FOLDER/, reason: "
            '"...", findings: [ID, ...]}]; without findings, every finding under path.',
        },
    },
}
