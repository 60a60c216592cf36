"""Packer templates made into recipes (`bakery convert`): an `amazon-ebs` template, HCL2 or legacy
JSON, read with its variable files into plain values with their FILE:LINE (`template`,
`hcl_reader`, `json_reader`, `var_files`), its strings and expressions recognised without ever
evaluating them (`strings`, `expressions`), its builder settings and provisioners mapped onto
recipe keys (`builder`, `provisioners`), its sources made into a family or separate recipes with
parameters and a var file (`recipes`), and the recipe written as YAML with every setting that has
no equivalent left as a comment where it belongs (`yaml_text`). Pure: text in, recipe documents
and the findings of what was not mapped (or mapped with a change) out; nothing here reads a file,
runs Packer or evaluates the template.

May import: bakery.config, bakery.errors.
"""
