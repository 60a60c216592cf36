"""The local AWS emulator: a moto server on 127.0.0.1 for a project (`launcher`, `server`), its
corrections of moto, the images it is seeded with, and its state kept across restarts.

May import: bakery.errors.
"""
