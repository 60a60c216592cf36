"""Image lifecycle after a bake: resolving an image reference, copying and sharing, smoke tests,
channels (promote, rollback, revoke down the lineage), and prune (`prune_plan` is the pure plan,
`prune` gathers its facts and carries it out). `gates` holds the pure promotion checks.

May import: bakery.lineage, bakery.aws, bakery.render, bakery.ui, bakery.config, bakery.errors.
"""
