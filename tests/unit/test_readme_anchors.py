"""The README's internal links lead somewhere: every ``(#anchor)`` names one of its headings.

Sections of the manual get moved and renamed; a link to a heading that is gone drops the reader
at the top of the page with no word of it. The anchors follow GitHub's rule for headings.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
FENCED = re.compile(r"^```.*?^```", re.S | re.M)


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors: lower case, punctuation dropped, spaces as '-', '-N' for repeats."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_every_internal_link_names_a_heading() -> None:
    """Each ``](#anchor)`` link of README.md resolves to one of its headings."""
    text = FENCED.sub("", README.read_text(encoding="utf-8"))
    links = re.findall(r"\]\(#([^)\s]+)\)", text)
    assert len(links) > 10, "the README's links were not found"
    anchors = heading_anchors(text)
    assert [link for link in links if link not in anchors] == []


def test_anchor_rule_matches_github() -> None:
    """The anchor rule drops backticks and commas and numbers repeated headings, as GitHub does."""
    text = "## The `stack` artifact: every z, t\n### Faults\n### Faults\n"
    assert heading_anchors(text) == {"the-stack-artifact-every-z-t", "faults", "faults-1"}
