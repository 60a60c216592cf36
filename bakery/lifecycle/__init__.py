"""Image lifecycle after a bake: copy, share, smoke-test, promote, revoke, prune."""
