"""Contract of the monthly archive: the activity's name (workflows/archive.py, activities/archive.py)."""

from __future__ import annotations

RUN_ARCHIVE = "archive.run"
