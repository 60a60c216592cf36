"""A recipe made into a Packer build folder: the HCL2 template through Jinja2 (every value through
the one HCL escaper in `hcl`), the generated step scripts and env files, the content digest of
what Packer gets, and the input hash that decides whether an image is up to date. Pure.

May import: bakery.config, bakery.errors.
"""
