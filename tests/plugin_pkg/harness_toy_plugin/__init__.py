"""A toy harness plugin: the `toy` model format and the `toy` runner (tests only)."""
