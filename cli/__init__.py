"""The `sge` operator CLI (typer)."""
