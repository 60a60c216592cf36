"""The lineage store: every build, its images and where they came from."""
