"""The SQLite lineage store: one file in WAL mode, a versioned schema, safe across threads and
processes; builds (`store`), leases inside BEGIN IMMEDIATE (`leases`), promotions, smoke tests,
shares and pruned images (`lifecycle`).
"""
