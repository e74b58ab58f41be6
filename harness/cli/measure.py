"""CLI commands: measure (placeholder until its issue lands)."""

from harness.cli import app  # noqa: F401
