"""Scheduled rebuilds: why a recipe is stale (`staleness`, pure), the plan of stale recipes
(`rebuild_plan`), `rebuild --stale` as a use case that bakes and promotes them (`rebuild`), and the
notification of a run's result (`notify`).

May import: bakery.bake, bakery.lifecycle, bakery.lineage, bakery.aws, bakery.render, bakery.ui,
bakery.config, bakery.errors.
"""
