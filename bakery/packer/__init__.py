"""Packer, the outside program: finding its version and dialect, `fmt -check`, `validate`, and
`build` as a process tree bakery can always stop (`binary`, through `guard`, the process that
owns Packer's tree and outlives bakery only to stop it); the pure parser of its
machine-readable output and manifest (`output`). Nothing else runs `packer`.

May import: bakery.render, bakery.config, bakery.errors.
"""
