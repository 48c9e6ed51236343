"""What the repository cites is in the repository.

A user's clone holds only the repository, so code, tests and docs cite ``docs/`` (and upstream
sources by URL or module path), never notes kept beside it. Every citation of a section of
docs/architecture.md names a heading that exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".json", ".sh", ".cfg", ".go",
                 ".mod", ".tpl", ".j2"}
TEXT_NAMES = {"Makefile", "Dockerfile", "run", ".dockerignore"}
# Documents that exist only outside the repository. Spelled so that this file does not match.
OUTSIDE = re.compile(r"\b(?:DESIGN|STYLE|CONTROLPLANE" r"-NOTES)\.md\b")
CITATION = re.compile(r"architecture\.md,\s*\"([^\"]+)\"")


def repository_text_files() -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames
                       if not d.startswith(".") and d not in {"__pycache__", "node_modules"}]
        for name in filenames:
            path = Path(dirpath) / name
            if path.suffix in TEXT_SUFFIXES or name in TEXT_NAMES:
                found.append(path)
    return sorted(found)


def read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return ""


def test_nothing_cites_a_document_outside_the_repository() -> None:
    cites = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p in repository_text_files()
             for n, line in enumerate(read(p).splitlines(), 1) if OUTSIDE.search(line)]
    assert cites == []


def headings() -> list[str]:
    return [line.lstrip("#").strip().lower()
            for line in ARCHITECTURE.read_text().splitlines() if line.startswith("#")]


def test_architecture_citations_name_existing_sections() -> None:
    known = headings()
    missing = []
    for path in repository_text_files():
        # A citation may run over a line break, inside a comment or a docstring.
        text = re.sub(r"\s*\n\s*(?:#\s*)?", " ", read(path))
        for section in CITATION.findall(text):
            wanted = " ".join(section.split()).lower()
            if not any(h.startswith(wanted) for h in known):
                missing.append(f"{path.relative_to(ROOT)}: \"{section}\"")
    assert missing == [], f"docs/architecture.md has no such section: {missing}"


def test_the_checks_see_a_citation(tmp_path: Path) -> None:
    """Controls for the two patterns above."""
    assert OUTSIDE.search("see " + "DESIGN" + ".md section 3")
    assert not OUTSIDE.search("docs/architecture.md")
    text = "x (docs/architecture" + '.md, "The status\n# contract") y'
    flat = re.sub(r"\s*\n\s*(?:#\s*)?", " ", text)
    assert CITATION.findall(flat) == ["The status contract"]
