"""The lineage store: frozen build records and what the store keeps about promotions, smoke tests
and shares (`records`); the `LineageStore` protocol (`store`) with its SQLite (`sqlite/`) and
DynamoDB (`dynamodb/`) implementations; the files a build downloaded from its instance, listed
and hashed for its record (`artifacts`); queries over ancestry, provenance, migration between
stores, recreating the store from image tags (`tag_import`), and holding a lease on a
recipe's builds or a channel's writes (`leases`).

May import: bakery.aws, bakery.ui, bakery.config, bakery.errors.
"""
