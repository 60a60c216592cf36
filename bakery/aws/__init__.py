"""The AWS gateway: the only package that talks to AWS. `session` makes the one boto3 session and
its clients (never at import time, so the emulator and moto come first); the other modules are
the calls of one concern each (images, sources, usage, leftovers, channels, distribution, smoke
instances, KMS keys), returning the plain values of `facts`; `iam_policy` is the least-privilege
policy of those calls.

May import: bakery.config, bakery.errors.
"""
