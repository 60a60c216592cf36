"""The DynamoDB lineage store on one table (its key schema is in `table`): items to and from
records (`items`), conditional writes for status changes and leases (`leases`), promotions, smoke
tests and shares (`lifecycle`), and creating the table (`setup`, for `state init`).
"""
