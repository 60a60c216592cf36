"""The bake use case: what to build and why (`decisions` is the pure decision, `bake_plan` gathers
its facts), the scheduler that runs a tree of builds, the leases that keep two runners from
building one recipe, and the build of one recipe through Packer (`build_one`, run by `execute`).
`context` makes what a bake needs from outside.

May import: bakery.lifecycle, bakery.lineage, bakery.aws, bakery.local, bakery.packer,
bakery.render, bakery.ui, bakery.config, bakery.errors.
"""
