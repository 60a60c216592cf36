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
# Where a line break (LF) and a TAB are ordinary text: user data, which bakery writes to a file of
# the build folder (it never enters the template as a string).
TEXT_ALLOWED: tuple[tuple[str, ...], ...] = (("build", "user_data"), ("defaults", "user_data"))
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

_instance_type = {"type": "string", "pattern": r"\A[a-z][a-z0-9-]*\.[a-z0-9]+\Z"}
_KMS = {"type": "string", "pattern": KMS_PATTERN}
_CIDR_PATTERN = r"\A(([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}|[0-9A-Fa-f:]{2,39}/[0-9]{1,3})\Z"
# EC2 filter names (`tag:Name`, `virtualization-type`) and values (wildcards allowed).
_ec2_filters = {
    "type": "object",
    "maxProperties": 50,
    "propertyNames": {"pattern": r"\A[A-Za-z0-9][A-Za-z0-9 :._/@+=-]{0,127}\Z"},
    "additionalProperties": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": NO_TEMPLATE_PATTERN,
    },
    "description": "EC2 filters by name (tag:KEY, vpc-id, ...); a value may hold * and ?.",
}
DEVICE_PATTERN = r"\A/dev/[a-z0-9]+\Z"
VOLUME_TYPES = ["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"]
_volume = {
    "type": "object",
    "additionalProperties": False,
    "required": ["device_name"],
    "properties": {
        "device_name": {"type": "string", "pattern": DEVICE_PATTERN},
        "volume_size": {"type": "integer", "minimum": 1, "maximum": 65536},
        "volume_type": {"enum": VOLUME_TYPES},
        "iops": {"type": "integer", "minimum": 100, "maximum": 256000},
        "throughput": {"type": "integer", "minimum": 125, "maximum": 2000},
        "encrypted": {"type": "boolean"},
        "kms_key_id": _KMS,
        "delete_on_termination": {"type": "boolean"},
        "snapshot_id": {"type": "string", "pattern": r"\Asnap-([0-9a-f]{8}|[0-9a-f]{17})\Z"},
        "no_device": {"type": "boolean"},
    },
}
# An ARN of an organization or an organizational unit, as ami_org_arns / ami_ou_arns take it.
ORG_ARN_PATTERN = r"\Aarn:aws[a-z-]*:organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}\Z"
OU_ARN_PATTERN = (
    r"\Aarn:aws[a-z-]*:organizations::[0-9]{12}:ou/o-[a-z0-9]{10,32}"
    r"/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}\Z"
)
# Either of them: whom an image may be shared with besides accounts.
UNIT_ARN_PATTERN = rf"{ORG_ARN_PATTERN}|{OU_ARN_PATTERN}"
# Attributes of amazon-ebs that bakery sets itself or that have their own key: `build.extra` may
# not name them (see bakery.config.rules).
OWNED_ATTRIBUTES = (
    "access_key",
    "ami_block_device_mappings",
    "ami_description",
    "ami_groups",
    "ami_name",
    "ami_org_arns",
    "ami_ou_arns",
    "ami_product_codes",
    "ami_regions",
    "ami_users",
    "associate_public_ip_address",
    "assume_role",
    "aws_polling",
    "communicator",
    "custom_endpoint_ec2",
    "deprecate_at",
    "ebs_optimized",
    "ena_support",
    "encrypt_boot",
    "iam_instance_profile",
    "imds_support",
    "instance_type",
    "kms_key_id",
    "launch_block_device_mappings",
    "metadata_options",
    "mfa_code",
    "profile",
    "region",
    "region_kms_key_ids",
    "run_tag",
    "run_tags",
    "run_volume_tag",
    "run_volume_tags",
    "secret_key",
    "security_group_filter",
    "security_group_id",
    "security_group_ids",
    "shared_credentials_file",
    "skip_create_ami",
    "snapshot_groups",
    "snapshot_tag",
    "snapshot_tags",
    "snapshot_users",
    "source_ami",
    "source_ami_filter",
    "spot_instance_types",
    "spot_price",
    "spot_tag",
    "spot_tags",
    "sriov_support",
    "ssh_interface",
    "ssh_pty",
    "ssh_timeout",
    "ssh_username",
    "subnet_filter",
    "subnet_id",
    "tag",
    "tags",
    "temporary_key_pair_type",
    "temporary_security_group_source_cidrs",
    "token",
    "user_data",
    "user_data_file",
    "vault_aws_engine",
    "vpc_id",
)
_extra_string = {"type": "string", "maxLength": 4096, "pattern": NO_TEMPLATE_PATTERN}
_extra_value = {
    "anyOf": [
        _extra_string,
        {"type": ["integer", "boolean"]},
        {
            "type": "array",
            "maxItems": 100,
            "items": {"anyOf": [_extra_string, {"type": "integer"}]},
        },
        {
            "type": "object",
            "maxProperties": 100,
            "propertyNames": {"maxLength": 128, "pattern": NO_TEMPLATE_PATTERN},
            "additionalProperties": _extra_string,
        },
    ]
}

BUILD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "instance_type": _instance_type,
        "architecture": {"enum": ["x86_64", "arm64"]},
        "ssh_username": {"type": "string", "pattern": r"\A[a-z_][a-z0-9_-]{0,31}\Z"},
        "volume_size": {"type": "integer", "minimum": 1, "maximum": 16384},
        "volume_type": {"enum": VOLUME_TYPES},
        "iops": {"type": "integer", "minimum": 100, "maximum": 256000},
        "throughput": {"type": "integer", "minimum": 125, "maximum": 2000},
        "root_device": {"type": "string", "pattern": DEVICE_PATTERN},
        "encrypted": {"type": "boolean"},
        "kms_key_id": _KMS,
        "timeout": _duration,
        "subnet_id": {"type": "string", "pattern": r"\Asubnet-[0-9a-f]{8,17}\Z"},
        "security_group_ids": {
            "type": "array",
            "items": {"type": "string", "pattern": r"\Asg-[0-9a-f]{8,17}\Z"},
        },
        "iam_instance_profile": {"type": "string", "pattern": r"\A[A-Za-z0-9+=,.@_/:-]{1,2048}\Z"},
        "associate_public_ip_address": {"type": "boolean"},
        "metadata_options": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "http_endpoint": {"enum": ["enabled", "disabled"]},
                "http_tokens": {"enum": ["required", "optional"]},
                "http_put_response_hop_limit": {"type": "integer", "minimum": 1, "maximum": 64},
                "instance_metadata_tags": {"enum": ["enabled", "disabled"]},
            },
            "description": "The build instance's metadata service; http_tokens: required "
            "(IMDSv2) unless set.",
        },
        "imds_support": {
            "enum": ["v2.0", "none"],
            "description": "v2.0 (default): instances launched from the image require IMDSv2.",
        },
        "ssh_interface": {
            "enum": ["public_ip", "private_ip", "public_dns", "private_dns", "session_manager"]
        },
        "ssh_pty": {"type": "boolean"},
        "ssh_timeout": _duration,
        "temporary_key_pair_type": {"enum": ["rsa", "ed25519"]},
        "temporary_security_group_source_cidrs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 50,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": _CIDR_PATTERN},
        },
        "vpc_id": {"type": "string", "pattern": r"\Avpc-[0-9a-f]{8,17}\Z"},
        "subnet_filter": {
            "type": "object",
            "additionalProperties": False,
            "required": ["filters"],
            "properties": {
                "filters": _ec2_filters,
                "most_free": {"type": "boolean"},
                "random": {"type": "boolean"},
            },
        },
        "security_group_filter": {
            "type": "object",
            "additionalProperties": False,
            "required": ["filters"],
            "properties": {"filters": _ec2_filters},
        },
        # Packer reads the file bakery writes user data to as it is: no {{ }} is evaluated.
        "user_data": {"type": "string", "minLength": 1, "maxLength": 16384},
        "user_data_file": _string,
        "run_tags": {
            **_tags,
            "description": "Tags on the build instance and its volumes, besides bakery's own.",
        },
        "spot_instance_types": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20,
            "uniqueItems": True,
            "items": _instance_type,
        },
        "spot_price": {"type": "string", "pattern": r"\A(auto|[0-9]{1,4}(\.[0-9]{1,6})?)\Z"},
        "ebs_optimized": {"type": "boolean"},
        "ena_support": {"type": "boolean"},
        "sriov_support": {"type": "boolean"},
        "boot_mode": {"enum": ["legacy-bios", "uefi", "uefi-preferred"]},
        "tpm_support": {"enum": ["v2.0"]},
        "volumes": {"type": "array", "maxItems": 20, "items": _volume},
        "ami_volumes": {"type": "array", "maxItems": 20, "items": _volume},
        "deprecate_after_days": {"type": "integer", "minimum": 1, "maximum": MAX_AGE_DAYS},
        "ami_product_codes": {
            "type": "array",
            "maxItems": 10,
            "uniqueItems": True,
            "items": {"type": "string", "pattern": r"\A[a-z0-9]{1,64}\Z"},
        },
        "custom_endpoint_ec2": {
            "type": "string",
            "pattern": r"\Ahttps://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?\Z",
        },
        "aws_polling": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "delay_seconds": {"type": "integer", "minimum": 1, "maximum": 3600},
                "max_attempts": {"type": "integer", "minimum": 1, "maximum": 10000},
            },
        },
        "extra": {
            "type": "object",
            "maxProperties": 50,
            "propertyNames": {"pattern": r"\A[a-z][a-z0-9_]{0,63}\Z"},
            "additionalProperties": _extra_value,
            "description": "Other amazon-ebs attributes, passed through after a check against "
            "the attributes the amazon plugin accepts (see docs/recipes.md).",
        },
    },
}

_step_env = {"env": _env}
STEP_KINDS = ("script", "inline", "file", "download", "reboot", "ansible")
# A path on the build instance: absolute or relative to the build user's home, no `{{`, not
# ending in `.` or `..` (a folder is named with a trailing /).
REMOTE_PATH_PATTERN = r"\A(?![\s\S]*(\A|/)\.\.?\Z)[\s\S]+\Z"
DOWNLOAD_PATTERN = r"\A[^*?\[]*[^/*?\[]\Z"
SHEBANG_PATTERN = r"\A/[A-Za-z0-9_./-]{1,200}( [A-Za-z0-9_.=/-]{1,100}){0,4}\Z"
_remote_path = {
    "type": "string",
    "minLength": 1,
    "maxLength": 1024,
    "allOf": [{"pattern": NO_TEMPLATE_PATTERN}, {"pattern": REMOTE_PATH_PATTERN}],
}
_packer_string_any = {"type": "string", "maxLength": 4096, "pattern": NO_TEMPLATE_PATTERN}
# A file kept with the build: a relative path of plain names, no `..`, no hidden first part.
ARTIFACT_PATTERN = (
    r"\A(?!.*(\A|/)\.\.?(/|\Z))[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*\Z"
)
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
                        "filters": _ec2_filters,
                        "include_deprecated": {"type": "boolean"},
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
            "maxItems": 200,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "script": _string,
                    "args": {"type": "array", "maxItems": 100, "items": _packer_string_any},
                    "inline": {"type": "array", "minItems": 1, "items": _string},
                    "shebang": {
                        "type": "string",
                        "pattern": SHEBANG_PATTERN,
                        "description": "interpreter of an inline step (Packer inline_shebang); "
                        "default /bin/sh -e",
                    },
                    "file": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["source", "destination"],
                        "properties": {"source": _string, "destination": _remote_path},
                        "description": "upload a file, or a folder (source ending in / uploads "
                        "its contents), keeping each file's mode",
                    },
                    "download": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["source", "destination"],
                        "properties": {
                            "source": {
                                **_remote_path,
                                "allOf": [
                                    {"pattern": NO_TEMPLATE_PATTERN},
                                    {"pattern": REMOTE_PATH_PATTERN},
                                    {"pattern": DOWNLOAD_PATTERN},
                                ],
                                "description": "one file on the instance (no wildcard, no /)",
                            },
                            "destination": {
                                "type": "string",
                                "pattern": ARTIFACT_PATTERN,
                                "maxLength": 200,
                                "description": "a file name under the build's artifacts/",
                            },
                        },
                    },
                    "reboot": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"pause": _delay, "timeout": _duration},
                        "description": "reboot the instance and wait for it: pause (default 30s) "
                        "before reconnecting, for at most timeout (default 10m)",
                    },
                    "ansible": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["playbook"],
                        "properties": {
                            "playbook": _string,
                            "folder": _string,
                            "galaxy_file": _string,
                            "extra_vars": {
                                "type": "object",
                                "maxProperties": 100,
                                "propertyNames": {"pattern": ENV_NAME_PATTERN},
                                "additionalProperties": {"type": ["string", "integer", "boolean"]},
                            },
                        },
                        "description": "run ansible-playbook on the instance (connection local)",
                    },
                    "run_as": {"enum": ["root", "user"]},
                    "pause_before": _delay,
                    "timeout": _duration,
                    "max_retries": {"type": "integer", "minimum": 0, "maximum": 20},
                    "expect_disconnect": {"type": "boolean"},
                    "start_retry_timeout": _duration,
                    **_step_env,
                    "when": _condition,
                },
                "oneOf": [{"required": [kind]} for kind in STEP_KINDS],
            },
        },
        "distribute": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "regions": {"type": "array", "items": _region, "uniqueItems": True},
                "accounts": {"type": "array", "items": _account, "uniqueItems": True},
                "organizations": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"type": "string", "pattern": ORG_ARN_PATTERN},
                },
                "organizational_units": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"type": "string", "pattern": OU_ARN_PATTERN},
                },
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
        "share_allowlist": {
            "type": "array",
            "uniqueItems": True,
            "items": {
                "anyOf": [
                    _account,
                    {"type": "string", "pattern": ORG_ARN_PATTERN},
                    {"type": "string", "pattern": OU_ARN_PATTERN},
                ]
            },
            "description": "accounts, organizations and organizational units (ARNs) images may "
            "be shared with",
        },
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
