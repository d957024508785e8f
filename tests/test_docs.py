"""The README and docs/ cite only what the repository holds: every relative link resolves to a
file inside it, every #anchor to a heading of its target (GitHub's slugs), and nothing names a
document outside the repository."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6} (.+?)\s*#*\s*$", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(path: Path) -> list[str]:
    return [m.group(1) for line in _prose(path.read_text(encoding="utf-8")) for m in LINK.finditer(line)]


def test_pages_exist():
    assert (ROOT / "README.md").is_file()
    assert {p.name for p in PAGES} >= {"README.md", "design.md", "reproducibility.md", "benchmarks.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if ROOT not in dest.parents and dest != ROOT:
            broken.append(f"{target}: outside the repository")
        elif not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_document_outside_the_repository(page: Path):
    text = page.read_text(encoding="utf-8")
    assert "../shared" not in text
    # a design.md or reproducibility.md cited from the README must be the one in docs/
    if page.name == "README.md":
        bare = re.findall(r"(?<![\w/])(?:design|reproducibility|benchmarks)\.md", text)
        assert not bare, f"README cites {bare} without docs/"


def test_readme_is_the_users_guide():
    """The README keeps the user's sections; the measured benchmarks live in docs/benchmarks.md."""
    heads = [line for line in _prose((ROOT / "README.md").read_text(encoding="utf-8")) if line.startswith("## ")]
    for name in ("## Set-up", "## The study", "## Headline results", "## Using the CLI", "## Extending", "## Reproducibility"):
        assert any(h.startswith(name) for h in heads), name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make repro" in readme and "make test" in readme
    assert "](docs/benchmarks.md" in readme
