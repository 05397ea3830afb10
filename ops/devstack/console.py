"""Progress lines of the local-stack tools, on stderr (stdout stays free for reports and JSON)."""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True, highlight=False, soft_wrap=True)
