"""Every finding of validation as a rule with a stable code and a severity: the one table.

Codes are cfn-lint style, a letter and four digits: E for an error (validation fails), W for a
warning (printed; bakery.yaml may ignore it by code, with a reason). The first digit is the
family: 0 the YAML file itself, 1 the shape the JSON Schema gives, 2 a recipe's own rules, 3 the
project file's rules, 4 the recipe graph, 5 secrets. Every Problem is made by `Rule.at` (or
`MarkedDocument.problem`, which calls it), so no finding is without a code. docs/rules.md is
generated from this table (`bakery rules`, `make rules`). A code, once published, keeps its
meaning: retire a rule rather than reuse its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bakery.errors import Problem, Severity, redact_urls

FAMILIES: Mapping[str, str] = MappingProxyType(
    {
        "0": "YAML files",
        "1": "Schema: the shape of recipes and bakery.yaml",
        "2": "Recipe rules",
        "3": "Project file rules",
        "4": "The recipe graph",
        "5": "Secrets",
        "6": "Parameters, variants and names",
        "7": "Build settings and steps",
    }
)


@dataclass(frozen=True)
class Rule:
    """One kind of finding: its code, severity, a short title and what it means and what to do."""

    code: str
    severity: Severity
    title: str
    description: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    @property
    def family(self) -> str:
        return FAMILIES[self.code[1]]

    def at(self, file: str, line: int, column: int, path: str, message: str) -> Problem:
        """Make a finding of this rule at FILE:LINE:COLUMN, under the key path `path`."""
        # Messages may quote a value of the input; a URL in one never shows its credentials,
        # nor its path (a webhook URL is a credential whole).
        text = redact_urls(message, paths=False)
        return Problem(file, line, column, self.code, path, text, self.severity)


_TABLE: list[Rule] = []


def _rule(code: str, title: str, description: str) -> Rule:
    severity: Severity = "warning" if code.startswith("W") else "error"
    rule = Rule(code, severity, title, description)
    _TABLE.append(rule)
    return rule


# 0: the YAML file itself
YAML_SYNTAX = _rule(
    "E0001",
    "YAML syntax error",
    "The file is not valid YAML (an unclosed bracket or quote, a bad indent, a second document). "
    "Fix the file at the line and column given.",
)
YAML_CHARACTER = _rule(
    "E0002",
    "Character YAML does not allow",
    "The file holds a control character (such as NUL or ESC) that YAML refuses. Remove it, or "
    "write it as an escape (`\\u001b`) inside a double-quoted string if you mean it.",
)
DUPLICATE_KEY = _rule(
    "E0003",
    "Duplicate key",
    "A mapping names the same key twice; YAML would silently keep the last. Remove one.",
)
MERGE_KEY = _rule(
    "E0004",
    "YAML merge key",
    "Merge keys (`<<: *anchor`) are not supported: the keys they bring in have no line of their "
    "own to report or check for duplicates. Write the keys out.",
)
UNREADABLE_VALUE = _rule(
    "E0005",
    "Value cannot be read",
    "A key or value has a YAML tag bakery does not read (such as `!vault`) or is malformed for "
    "its type (`!!int x`, a date such as 2001-13-45). Remove the tag or fix the value.",
)
INVALID_UNICODE = _rule(
    "E0006",
    "Invalid Unicode",
    "A string holds an unpaired surrogate escape (such as `\\ud83d`), which is no character. "
    "Write the whole character.",
)
UNREADABLE_FILE = _rule(
    "E0007",
    "File cannot be read",
    "The file cannot be opened or is not UTF-8 text. Save it as UTF-8.",
)
EMPTY_RECIPE = _rule(
    "E0008",
    "Empty recipe",
    "A recipe file holds no document. Write the recipe (see docs/recipes.md) or delete the file.",
)
KEY_NOT_STRING = _rule(
    "E0009",
    "Key is not a string",
    "YAML 1.1 reads some unquoted keys as other types and so renames them: `on`, `yes` and `NO` "
    "become booleans, `null` and `~` null, `0x10` and `010` the numbers 16 and 8. Quote the key "
    '(`"on": ...`); a list or mapping cannot be a key.',
)
FILE_TOO_LARGE = _rule(
    "E0010",
    "File too large",
    "bakery reads recipes and bakery.yaml of at most 1 MiB (docs/recipes.md, Limits). Move "
    "large content into the files and scripts a recipe uploads.",
)
TOO_DEEP = _rule(
    "E0011",
    "Nested too deep",
    "Lists and mappings may nest at most 64 deep, also through aliases (docs/recipes.md, "
    "Limits). No recipe needs more; flatten the file.",
)
ALIAS_EXPANSION = _rule(
    "E0012",
    "Aliases expand too far",
    "Aliases (`*name`) may add at most 10,000 values to a document, and may not refer to a "
    "collection that holds them: a few lines of aliases can otherwise expand to billions of "
    "values. Write the values out.",
)

# 1: the shape the JSON Schema gives (bakery.config.schema); one rule per schema keyword
SCHEMA_OTHER = _rule(
    "E1000",
    "Schema violation",
    "The value breaks a schema keyword without a rule of its own. Fix it as the message says.",
)
REQUIRED_KEY = _rule(
    "E1001",
    "Required key is missing",
    "A recipe needs name, layer, version and source; some mappings need keys of their own "
    "(filter needs owners and name, file needs source and destination). Add the key.",
)
UNKNOWN_KEY = _rule(
    "E1002",
    "Unknown key",
    "The key is not part of the format (often a typo); the message lists the keys allowed there. "
    "Rename or remove it.",
)
WRONG_TYPE = _rule(
    "E1003",
    "Wrong type",
    "The value has the wrong type: a string where a number is wanted, a list for a mapping. "
    "Quote numbers that are meant as strings (versions, account ids, environment values).",
)
NOT_ONE_OF = _rule(
    "E1004",
    "Value not allowed",
    "The value is not one of a fixed set (layer, volume_type, architecture, packer.dialect). "
    "Use one the message lists.",
)
BAD_FORMAT = _rule(
    "E1005",
    "Value has the wrong format",
    "The value does not match its format: a name, semantic version, AMI id, region, account id, "
    "duration, KMS key, rule code, or a reason that is blank. The message says which.",
)
NOT_EXACTLY_ONE = _rule(
    "E1006",
    "Not exactly one kind",
    "A source needs exactly one of ssm_parameter, ami, filter, recipe; a provision step exactly "
    "one of script, inline, file. Keep one.",
)
NO_ALTERNATIVE = _rule(
    "E1007",
    "Matches none of the alternatives",
    "The value fits none of the forms allowed there (a trusted owner is a 12-digit account, "
    "`self`, `amazon` or `aws-marketplace`). Use one of them.",
)
TOO_MANY_ENTRIES = _rule(
    "E1008",
    "Too many entries",
    "The mapping or list has more entries than allowed (at most 50 tags, as AWS allows; 64 "
    "values of a matrix parameter). Remove some.",
)
EMPTY_VALUE = _rule(
    "E1009",
    "Empty value",
    "The value is an empty string where one is needed (a path, a filter name, a reason). "
    "Write it, or drop the key.",
)
TOO_LONG = _rule(
    "E1010",
    "Value too long",
    "The value is longer than allowed (a name 63 characters, a description 255, a tag value "
    "256). Shorten it.",
)
TOO_FEW_ITEMS = _rule(
    "E1011",
    "Too few items",
    "The list or mapping is empty where at least one item is needed (filter owners, inline "
    "commands, a `when:` condition). Add one, or drop the key.",
)
DUPLICATE_ITEMS = _rule(
    "E1012",
    "Duplicate items",
    "The list names the same item twice (regions, accounts). Remove the repeat.",
)
OUT_OF_RANGE = _rule(
    "E1013",
    "Number out of range",
    "The number is below the minimum or above the maximum (volume_size 1 to 16384, bake.jobs "
    "1 to 64, retention at least 1). Use one in range.",
)
BAD_KEY = _rule(
    "E1014",
    "Invalid key",
    "A key of a mapping whose keys you choose is malformed: an environment variable name, a tag "
    "key (1 to 128 characters), a region in kms_key_ids, an account id, a channel name. Rename it.",
)
RESERVED_TAG = _rule(
    "E1015",
    "Reserved tag key",
    "Tag keys starting with `aws:` (AWS's) or `bakery:` (bakery's own tags), and `Name` (the "
    "AMI name bakery sets), are reserved in any case (`AWS:x`, `NAME`). Rename the tag.",
)
CONTROL_CHARACTER = _rule(
    "E1016",
    "Control character in a string",
    "A key or string holds a character that would reach Packer, a shell, a tag or a terminal "
    "as something other than text: a control character (NUL, ESC, a tab, a C1 control), a line "
    "break (LF, CR, U+2028, U+2029) or a bidirectional control (U+202E). Remove it. Inline "
    "commands may hold tabs; a multi-line command is a list of lines.",
)

# 2: a recipe's own rules (bakery.config.rules)
ABSOLUTE_PATH = _rule(
    "E2001",
    "Absolute path",
    "Script and file paths are relative to the recipe file, so a project builds the same on "
    "every machine. Write the path relative to the recipe.",
)
PATH_OUTSIDE = _rule(
    "E2002",
    "Path leaves the project",
    "The path (through `..` or a symbolic link) points outside the project folder, so the "
    "project would not hold all its images are made of. Keep uploaded files inside it.",
)
FILE_NOT_FOUND = _rule(
    "E2003",
    "File not found",
    "The script or file a step names does not exist. Fix the path (relative to the recipe file).",
)
NOT_A_FILE = _rule(
    "E2004",
    "Not a file",
    "The path names a folder or something else that is not a regular file. Name one file; "
    "upload a folder as an archive.",
)
HYGIENE_REASON = _rule(
    "E2005",
    "Hygiene skipped without a reason",
    "`hygiene: {skip: true}` keeps build leftovers (SSH host keys, histories) in the image; the "
    'reason is recorded as a tag. Add `reason: "..."`.',
)
UNTRUSTED_OWNER = _rule(
    "E2006",
    "Source owner not trusted",
    "A filter source may only pick images of owners listed in trusted_owners of bakery.yaml, so "
    "no one can slip in a look-alike image. Add the owner there if you trust its images.",
)
TAG_BUDGET = _rule(
    "E2007",
    "Too many tags on the image",
    "bakery's own tags, bakery.yaml's and the recipe's together exceed the 50 tags AWS allows on "
    "an image. Remove tags.",
)
GO_TEMPLATE = _rule(
    "E2008",
    "Go template in a Packer field",
    "Packer evaluates `{{ ... }}` as a Go template in the strings of its template and variables, "
    "even in HCL2 files (`{{ env ... }}` would copy the build machine's environment into the "
    "image): descriptions, tag keys and values (of recipes and bakery.yaml), source filter names "
    "and owners, file destinations, hygiene reasons. Remove the braces.",
)
KMS_REGION_UNLISTED = _rule(
    "E2009",
    "Key for a region not copied to",
    "distribute.kms_key_ids names a region that is not in distribute.regions; Packer refuses "
    "that. Add the region there or drop its key.",
)
KMS_KEYS_UNENCRYPTED = _rule(
    "E2010",
    "Copy keys without encryption",
    "distribute.kms_key_ids is set but build.encrypted is false; Packer needs encryption to use "
    "the keys. Set build.encrypted: true.",
)
KMS_KEY_UNENCRYPTED = _rule(
    "E2011",
    "Key without encryption",
    "build.kms_key_id is set but build.encrypted is false. Set build.encrypted: true.",
)
SHARE_DEFAULT_KEY = _rule(
    "E2012",
    "Encrypted image shared with the default key",
    "An image encrypted with the AWS managed key (no key given, or `alias/aws/ebs`) cannot be "
    "shared with other accounts, nor can its copies. Set build.kms_key_id and the keys of "
    "distribute.kms_key_ids to customer managed keys those accounts may use.",
)
AMI_NAME_TOO_LONG = _rule(
    "E2013",
    "AMI name too long",
    "The AMI name is NAME-VERSION-TIMESTAMP (a 14-digit build time); EC2 allows 3 to 128 "
    "letters, digits and ( ) [ ] . / - _ ' @ and spaces. Shorten the recipe name or version.",
)
SHARE_NOT_ALLOWED = _rule(
    "E2015",
    "Shared with an account not in share_allowlist",
    "distribute.accounts gives an account launch permission on the image (and on its copies in "
    "distribute.regions) when it is baked. Only accounts listed in share_allowlist of bakery.yaml "
    "may get it, so a recipe cannot hand an image to anyone; bakery never makes an image public. "
    "Add the account there if it may have the image, or drop it from the recipe.",
)
CONTROL_IN_PATH = _rule(
    "E2016",
    "Control character in a path",
    "A recipe file's name, a script or file path, or a path setting of bakery.yaml holds a "
    "control character (a newline, a tab, ESC, DEL, a C1 control, U+2028 or U+2029), which "
    "could end a line of the rendered template or of a message. Rename the file.",
)
BUILD_REGION_COPY = _rule(
    "W2001",
    "Build region listed as a copy",
    "distribute.regions names the build region, where the image is made anyway; Packer drops "
    "the repeat, so it changes nothing. Drop it from the list.",
)

# 3: the project file's rules
UNKNOWN_IGNORED_CODE = _rule(
    "E3001",
    "Ignored rule does not exist",
    "rules.ignore of bakery.yaml names a code no rule has. `bakery rules` lists the codes.",
)
ERROR_IGNORED = _rule(
    "E3002",
    "Error ignored",
    "Only warnings (W codes) can be ignored; an error means bakery cannot build the image "
    "correctly. Fix what the error says instead.",
)
DUPLICATE_IGNORE = _rule(
    "E3003",
    "Rule ignored twice",
    "rules.ignore names the same code twice. Keep one entry, with the reason that holds.",
)
UNKNOWN_CHANNEL = _rule(
    "E3004",
    "Unknown required channel",
    "A channel's `requires` names no channel of bakery.yaml, so no image could ever be promoted "
    "to it. Fix the name or add the channel.",
)
CHANNEL_CYCLE = _rule(
    "E3005",
    "Cycle of channel requirements",
    "Channels require each other in a circle (staging requires prod requires staging), so no "
    "image could be promoted to any of them. Make the first channel require none.",
)
PATH_SETTING_OUTSIDE = _rule(
    "E3006",
    "Path setting outside the project",
    "`recipes:` and `state: sqlite:PATH` of bakery.yaml name folders and files relative to the "
    "project; an absolute path, `~`, `..` or a symbolic link that leads out of the project is "
    "refused, so a pull request cannot make bakery read or write elsewhere. Keep them inside.",
)
PACKER_BINARY_UNTRUSTED = _rule(
    "E3007",
    "Packer executable a pull request could choose",
    "`packer.binary` names the program bakery runs on the bake host, with the job's AWS "
    "credentials. bakery.yaml arrives by pull request, so it may name only a Packer: a command "
    "name or an absolute path whose file name contains `packer`, not inside the project (where "
    "a pull request could add it). Install Packer outside the project and name it so.",
)

# 4: the recipe graph
DUPLICATE_NAME = _rule(
    "E4001",
    "Duplicate recipe name",
    "Two recipe files have the same name; names identify recipes, images and lineage. Rename one.",
)
UNKNOWN_PARENT = _rule(
    "E4002",
    "Unknown parent recipe",
    "source.recipe names no recipe of the project; the message suggests the closest name. Fix "
    "the name or add the recipe.",
)
CYCLE = _rule(
    "E4003",
    "Cycle in the recipe graph",
    "Recipes build on each other in a circle, so none can be built first; the message names the "
    "chain. Make one of them start from an external source.",
)

# 5: secrets (bakery.config.secrets); a line ending in `# bakery: allow-secret` is exempt, and
# bakery.yaml `secrets.allow` allows reviewed findings by file or folder (and finding id)
SECRET_ACCESS_KEY_ID = _rule(
    "E5001",
    "AWS access key id",
    "A recipe, script or file holds what looks like an AWS access key id (AKIA..., ASIA...); it "
    "would be baked into the image. Fetch credentials at boot (an instance profile, SSM "
    "Parameter Store, Secrets Manager).",
)
SECRET_ACCESS_KEY = _rule(
    "E5002",
    "AWS secret access key",
    "An aws_secret_access_key with a 40-character value. Remove it; use an instance profile.",
)
SECRET_PRIVATE_KEY = _rule(
    "E5003",
    "Private key block",
    "A `-----BEGIN ... PRIVATE KEY-----` block. Remove it; fetch the key at boot from SSM "
    "Parameter Store or Secrets Manager.",
)
SECRET_LITERAL = _rule(
    "E5004",
    "Password or token literal",
    "A password=, token=, secret= or api_key= with a literal value (a `$VAR` reference passes). "
    "Fetch it at boot, or end the line with `# bakery: allow-secret` if it is no secret.",
)
SECRET_SERVICE_TOKEN = _rule(
    "E5005",
    "Service token or API key",
    "A token in a format a service issues (GitHub, GitLab, Slack, npm, PyPI, Stripe, a JSON Web "
    "Token and others detect-secrets knows). Revoke it if it was pushed, and fetch it at boot.",
)
SECRET_URL_CREDENTIALS = _rule(
    "E5006",
    "Password in a URL",
    "A URL with a user and password (`https://user:pass@host`). Drop the credentials from the "
    "URL; give them at boot (a netrc written from SSM Parameter Store, a credential helper).",
)
SECRET_AUTH_HEADER = _rule(
    "E5007",
    "Authorization header",
    "An `Authorization: Bearer ...`, `Basic ...` or `Token ...` header with a literal value (a "
    "`$TOKEN` reference passes). Read the token from the environment at boot.",
)
SECRET_COMMAND_LINE = _rule(
    "E5008",
    "Password on a command line",
    "A password given as an argument (`mysql -pSECRET`, `sshpass -p`, `--password=`, `curl -u "
    "user:pass`): it is baked into the image and shown by `ps`. Use an option file or the "
    "environment, filled at boot.",
)
SECRET_ARCHIVE = _rule(
    "E5009",
    "Archive bakery cannot scan",
    "An uploaded archive (tar, compressed tar, zip, gzip) is scanned inside for secrets within "
    "limits (10,000 members, 256 MiB unpacked); past them, or when it cannot be read (corrupt, "
    "encrypted), it is refused, since a secret could hide there. Split it, or allow its path in "
    "bakery.yaml `secrets.allow` with the reason once reviewed.",
)

# 6: parameters, variants and names
REFERENCE_SYNTAX = _rule(
    "E6001",
    "Malformed reference",
    "A `((` starts a reference, written `((name))` (or `((build_time:FORMAT))`), and needs its "
    "`))`. Fix the reference; a literal `((` cannot stand in a field that takes references.",
)
UNKNOWN_PARAMETER = _rule(
    "E6002",
    "Unknown parameter",
    "The reference, `when:` condition, selector or given value names a parameter neither the "
    "recipe nor bakery.yaml declares, nor a built-in. Declare it under `parameters:` or fix the "
    "name (the message suggests the closest).",
)
REFERENCE_NOT_HERE = _rule(
    "E6003",
    "Reference not allowed here",
    "This field takes no references (name, layer, keys), or not this one: facts known only when "
    "a build runs (build id, build time, source AMI) stand only in `ami_name` and tag values, "
    "`((instance))` only there too. Write the value out, or move it to a field that takes it.",
)
PARAMETER_VALUE = _rule(
    "E6004",
    "Parameter value does not fit",
    "A parameter's value (its default, a var file's, `--var`, `BAKERY_VAR_<name>`, a matrix "
    "value) does not fit its declaration: type, allowed values, pattern, range, or it holds a "
    "control character or a template. Give a fitting value.",
)
PARAMETER_MISSING = _rule(
    "E6005",
    "Parameter has no value",
    "A parameter the recipe uses has no default and no value was given. Give one with "
    "`--var NAME=VALUE`, a var file, or `BAKERY_VAR_<NAME>`, or declare a default.",
)
PARAMETER_DECLARATION = _rule(
    "E6006",
    "Invalid parameter declaration",
    "The declaration cannot stand: the name is a built-in reference, the recipe declares again a "
    "parameter bakery.yaml declares, or its pattern is not a regular expression. Rename or fix it.",
)
MATRIX_PROBLEM = _rule(
    "E6007",
    "Invalid matrix",
    "The matrix leaves no instance, an `include` entry does not name every matrix parameter, "
    "a matrix parameter also has a value given (choose instances with `NAME[param=value]` "
    "instead), or two instances get the same name. The message says which.",
)
INSTANCE_NAME = _rule(
    "E6008",
    "Invalid instance name",
    "An instance name (from `variants.name` or the default NAME-VALUE-...) must be lowercase "
    "letters, digits, `.`, `_` and `-`, start with a letter or digit, hold no `..`, and be at "
    "most 100 characters. Change the template or the values.",
)
AMI_NAME_NOT_UNIQUE = _rule(
    "E6009",
    "AMI name two builds could share",
    "`ami_name` must make a new name for every build: hold `((build_id))`, `((timestamp))` or "
    "`((build_time:FORMAT))` with seconds (`%S`). AWS refuses a second image of the same name.",
)
FAMILY_PARENT = _rule(
    "E6010",
    "Family parent cannot be chosen",
    "`source.recipe` names a family, and the instance to build on cannot be chosen: this recipe "
    "lacks one of the family's matrix parameters, or no instance has its values. Name one "
    "(`base[arch=arm64]`) or give this recipe the parameter.",
)
UNMATCHED_CONDITION = _rule(
    "W6001",
    "Condition matches no instance",
    "A step or override with `when:` applies to no instance of the recipe, or an `exclude` of "
    "the matrix drops nothing. Fix the condition or remove it.",
)
SHELL_REFERENCE = _rule(
    "W6002",
    "Reference in shell text is not substituted",
    "Inline commands and tests are shell text, where `((...))` is arithmetic: bakery does not "
    "substitute parameters there. Pass the value through `env:` or `environment:` and use $NAME.",
)

# 7: build settings and steps (bakery.config.rules, bakery.config.settings)
UPLOAD_TREE = _rule(
    "E7001",
    "Folder upload holds what cannot go up",
    "A folder upload (a `file` step whose source is a folder, an `ansible` folder) goes up as one "
    "archive of its regular files, modes kept. It may not hold a symbolic link leading out of "
    "it, a FIFO or device, nor more than 50,000 files or 2 GiB, and may not be empty.",
)
EXTRA_UNKNOWN = _rule(
    "E7002",
    "Not an amazon-ebs attribute",
    "`build.extra` passes attributes through to the `amazon-ebs` source; this name is not one "
    "the amazon plugin accepts (or it is a block, which extra cannot write), or its value has "
    "the wrong type. Check the spelling against the plugin's documentation.",
)
EXTRA_OWNED = _rule(
    "E7003",
    "Attribute bakery sets itself",
    "`build.extra` may not set what bakery owns (names, tags, regions, sharing, the source, "
    "credentials, the communicator) or what has its own key in `build`. Use that key.",
)
SESSION_MANAGER_PROFILE = _rule(
    "E7004",
    "Session Manager without an instance profile",
    "`ssh_interface: session_manager` connects through AWS Systems Manager, which needs the "
    "build instance to have an instance profile allowing it. Set build.iam_instance_profile.",
)
SETTINGS_CONFLICT = _rule(
    "E7005",
    "Settings that exclude each other",
    "Two settings that Packer or EC2 refuse together: user_data and user_data_file; "
    "instance_type and spot_instance_types; spot instances with ena_support or sriov_support; "
    "subnet_id and subnet_filter; security_group_ids and security_group_filter; iops or "
    "throughput on a volume type without them; a disconnect option on a step that runs no "
    "shell. Keep one.",
)
ANSIBLE_LAYOUT = _rule(
    "E7006",
    "Playbook outside its folder",
    "An `ansible` step uploads its folder and runs the playbook (and installs the galaxy file) "
    "from there, so both must be inside the folder. Move them or name a folder holding them.",
)
UNDECLARED_REBOOT = _rule(
    "W7001",
    "Step reboots without expecting it",
    "A script or inline command reboots the instance (reboot, shutdown -r, systemctl reboot) "
    "but the step does not set `expect_disconnect: true`: on AWS Packer fails the step when the "
    "connection drops. Use a `reboot` step, or set expect_disconnect on this one.",
)

RULES: tuple[Rule, ...] = tuple(_TABLE)
RULES_BY_CODE: Mapping[str, Rule] = MappingProxyType({rule.code: rule for rule in RULES})

# The rule of each JSON Schema keyword a finding of jsonschema names (bakery.config.schema_check).
SCHEMA_KEYWORDS: Mapping[str, Rule] = MappingProxyType(
    {
        "required": REQUIRED_KEY,
        "additionalProperties": UNKNOWN_KEY,
        "type": WRONG_TYPE,
        "enum": NOT_ONE_OF,
        "pattern": BAD_FORMAT,
        "oneOf": NOT_EXACTLY_ONE,
        "anyOf": NO_ALTERNATIVE,
        "maxProperties": TOO_MANY_ENTRIES,
        "minLength": EMPTY_VALUE,
        "maxLength": TOO_LONG,
        "minItems": TOO_FEW_ITEMS,
        "maxItems": TOO_MANY_ENTRIES,
        "minProperties": TOO_FEW_ITEMS,
        "uniqueItems": DUPLICATE_ITEMS,
        "minimum": OUT_OF_RANGE,
        "maximum": OUT_OF_RANGE,
    }
)
