"""The project file and the recipes: loading YAML with line and column marks, the JSON Schema of
both formats, the rules a schema cannot say, the table of rule codes every finding names (with
its severity), the secret scan, parameters and the instances of a recipe family, the catalog of
every recipe, the dependency graph, the tag set of an image, and the git state of the checkout.
Pure: nothing here talks to AWS or runs Packer (`git` reads the checkout's commit); of the
environment, only the variables a parameter may take its value from are read.

May import: bakery.errors.
"""
