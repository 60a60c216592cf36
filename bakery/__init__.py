"""bakery: bake layered AWS machine images with Packer from YAML recipes."""

__version__ = "0.1.0"
