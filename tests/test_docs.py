"""The README stays short and its links (and the docs' links) point at files that exist."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def links(path: Path) -> list[str]:
    return [m for m in LINK.findall(path.read_text()) if not m.startswith(("http://", "https://", "mailto:"))]


def test_readme_is_at_most_300_lines_and_links_the_reports_and_docs():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    assert "make demo" in text and "make test" in text
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in text, f"README.md does not link docs/{page.name}"


def test_every_relative_link_in_the_readme_and_docs_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "results").glob("*/REPORT.md"))]
    missing = [f"{p.relative_to(ROOT)} -> {link}" for p in pages for link in links(p)
               if not (p.parent / link).exists()]
    assert not missing, missing


def test_every_committed_results_folder_has_its_report():
    folders = [p for p in (ROOT / "results").iterdir() if p.is_dir() and not p.name.startswith(".")]
    # a grid still on its way says so (IN_PROGRESS.md) instead: nothing in it is published yet
    assert [f.name for f in folders if not (f / "REPORT.md").is_file() and not (f / "IN_PROGRESS.md").is_file()] == []
