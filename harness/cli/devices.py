"""CLI commands: devices (placeholder until its issue lands)."""

from harness.cli import app  # noqa: F401
