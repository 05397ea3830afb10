"""ops/threat-model.md cannot rot: every test its threat table names exists, every numbered finding of
issue 10 (1-12) has a row, and every row names at least one test."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "ops" / "threat-model.md"
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
FINDINGS = range(1, 13)


def threat_rows() -> dict[str, str]:
    """Row id (the first cell) → the whole row, for the table under "Threats, mitigations"."""
    text = DOCUMENT.read_text()
    section = text.split("## Threats, mitigations and their tests", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] not in ("#", "") and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = line
    return rows


def test_every_finding_has_a_row_and_every_row_a_test():
    rows = threat_rows()
    assert {str(n) for n in FINDINGS} <= rows.keys()
    assert not [row_id for row_id, line in rows.items() if not TEST_REF.search(line)]


def test_every_named_test_exists():
    missing = []
    for line in threat_rows().values():
        for path, name in TEST_REF.findall(line):
            file = ROOT / path
            if not file.is_file() or not re.search(rf"^\s*(async\s+)?def {name}\(", file.read_text(), re.M):
                missing.append(f"{path}::{name}")
    assert not missing, f"ops/threat-model.md names tests that do not exist: {missing}"
