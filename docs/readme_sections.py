"""The README's sections as docs pages, so the site says what the README says (one source, no copies).

A page is the README's first screen (everything above its first `---`, without the title) or one
`## Heading` section up to the next `## ` heading, written as a Markdown file with its headings
raised one level and its relative links rebased from the README's folder to the docs folder.
A heading that is missing fails the build and lists the headings there are.
"""

import os
import re
from pathlib import Path

# The README's parts on the site: docs/<stem>.md includes docs/_generated/readme/<stem>.md.
PAGES = {
    "getting-started": None,  # the first screen: the two commands (index.md)
    "what-the-notebook-does": "What the notebook does",
    "workshops": "Workshops",
    "when-something-goes-wrong": "When something goes wrong",
    "how-fast": "How fast is it?",
}

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


class ReadmeSectionError(Exception):
    pass


def headings(text: str) -> list:
    """The `## ` headings outside code blocks, in order."""
    found, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            found.append(line[3:].strip())
    return found


def first_screen(text: str) -> str:
    """What a reader sees first: the part above the README's first `---`, without its `# ` title line."""
    head = text.split("\n---\n")[0]
    return "\n".join(line for line in head.splitlines() if not line.startswith("# ")).strip() + "\n"


def section(text: str, heading: str) -> str:
    """`## heading` and its body up to the next `## ` heading, with every heading raised one level."""
    lines, out, fenced, inside = text.splitlines(), [], False, False
    for line in lines:
        if FENCE.match(line):
            fenced = not fenced
        is_h2 = not fenced and line.startswith("## ")
        if is_h2 and inside:
            break
        if is_h2 and line[3:].strip() == heading:
            inside = True
        if inside:
            out.append(line[1:] if not fenced and re.match(r"^#{2,6} ", line) else line)
    if not inside:
        raise ReadmeSectionError(f"README.md has no '## {heading}' section for the docs; "
                                 f"its sections are: {headings(text)}")
    while out and out[-1].strip() in ("", "---"):
        out.pop()
    return "\n".join(out) + "\n"


def rebase_links(markdown: str, from_dir: Path, to_dir: Path) -> str:
    """Relative link and image targets, written for `from_dir`, rewritten to work from `to_dir`."""
    def fix(m):
        target = m.group(2)
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.I):
            return m.group(0)
        return m.group(1) + Path(os.path.relpath(from_dir / target, to_dir)).as_posix() + m.group(3)
    return LINK.sub(fix, markdown)


def write_pages(readme: Path, out_dir: Path, pages: dict, docs_dir: Path) -> list:
    """Write `{file stem: heading or None for the first screen}` as Markdown files in `out_dir`.

    Links are rebased to `docs_dir`, the folder of the pages that include these files.
    """
    text = readme.read_text(encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, heading in pages.items():
        body = first_screen(text) if heading is None else section(text, heading)
        path = out_dir / f"{stem}.md"
        path.write_text(rebase_links(body, readme.parent, docs_dir), encoding="utf-8")
        written.append(path)
    return written
