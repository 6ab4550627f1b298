"""Every relative link of the README, the changelog and docs/ points at a file that exists, and at a heading it has.

External links (http, https, mailto) are not fetched. Links inside fenced code
blocks are code, not links. A link with an anchor (`operations.md#upgrades`,
`#glossary`) must name a heading of its target, slugged as GitHub slugs them.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, with their numbers."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors by its text
    text = text.strip().lower()
    kept = "".join(
        char for char in text if char in " -_" or unicodedata.category(char)[0] in ("L", "N") or char == "\u200d"
    )
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links() -> list[str]:
    broken = []
    for document in documents():
        for number, line in prose_lines(document.read_text()):
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                    continue
                where = f"{document.relative_to(ROOT)}:{number}: {target}"
                file_part, _, anchor = target.partition("#")
                resolved = (document.parent / file_part).resolve() if file_part else document
                if not resolved.exists():
                    broken.append(f"{where} (no such file)")
                    continue
                if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                    broken.append(f"{where} (no heading with that anchor)")
    return broken


def test_slugs_are_githubs():
    assert slug("Configuration reference") == "configuration-reference"
    assert slug("`GET /v1/products/{id}/analytics/feature-usage`") == "get-v1productsidanalyticsfeature-usage"
    assert slug("Round 3 (2026-12-02 – 2026-12-03): faults") == "round-3-2026-12-02--2026-12-03-faults"
    assert slug("Sign-in throttling (a stranger cannot lock a customer out)") == (
        "sign-in-throttling-a-stranger-cannot-lock-a-customer-out"
    )


def test_the_documents_exist():
    assert (ROOT / "docs" / "architecture.md").exists()
    assert len(documents()) > 10


def test_every_relative_link_points_at_an_existing_file_and_heading():
    broken = broken_links()
    assert not broken, "broken links:\n" + "\n".join(broken)
