from pathlib import Path

from cli.main import config_table_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_is_current():
    text = README.read_text()
    start = text.index("-->", text.index("<!-- config-table:start")) + 3
    end = text.index("<!-- config-table:end -->")
    assert text[start:end].strip() == config_table_markdown(), "run: sge config --update-readme"
