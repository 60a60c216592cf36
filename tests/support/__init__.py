"""What the tests share: project factories and the command line (`project`), build records
(`records`), lineage stores on SQLite and on DynamoDB in moto (`stores`), AMIs in moto (`amis`),
the in-memory image port (`images`), one-recipe projects rendered and read back
(`rendering`), Packer's build logs (`packer_logs`), and the fake `packer`
script (`fake_packer`, for scheduling tests and benchmarks only). Tests import from here, never
from one another.
"""
