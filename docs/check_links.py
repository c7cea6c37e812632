"""Fail on a broken local link in the built site, and on anything the pages load from the network.

    python docs/check_links.py docs/_build/html

Every `href` and `src` that is not an outside link must name a file in the site, and a `#fragment`
an `id` in that file. Scripts, style sheets and images must be local: the site works offline.
"""

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

FETCHED_RELS = {"stylesheet", "preload", "modulepreload", "icon"}  # <link rel=...> a browser downloads
LOADED = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"), ("source", "src")}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key) and (key == "id" or tag == "a"):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.refs.append((tag, key, attrs[key], attrs.get("rel") or ""))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


def broken_links(site: Path) -> list:
    """`(page, link, why)` for every broken local link or remote resource under `site`."""
    site, pages, problems = site.resolve(), {}, []
    for html in sorted(site.rglob("*.html")):
        pages[html] = parse(html)
    for html, page in pages.items():
        where = html.relative_to(site).as_posix()
        for tag, key, ref, rel in page.refs:
            url = urlsplit(ref)
            if url.scheme in ("http", "https") or ref.startswith("//"):
                if (tag, key) in LOADED and (tag != "link" or set(rel.split()) & FETCHED_RELS):
                    problems.append((where, ref, "loaded from the network: the site must work offline"))
                continue
            if url.scheme or not (url.path or url.fragment):
                continue  # mailto:, javascript:, data:, or an empty link
            target = (html.parent / unquote(url.path)).resolve() if url.path else html
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append((where, ref, "no such file"))
            elif url.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(url.fragment) not in ids:
                    problems.append((where, ref, f"no id '{url.fragment}' in {target.name}"))
    return problems


def main(argv=None) -> int:
    site = Path((argv or sys.argv[1:] or ["docs/_build/html"])[0])
    if not (site / "index.html").is_file():
        print(f"[docs] {site}/index.html is missing: build the site first (bash docs/build.sh)")
        return 1
    problems = broken_links(site)
    for where, ref, why in problems:
        print(f"[docs] {where}: {ref} -> {why}")
    count = len(list(site.rglob("*.html")))
    print(f"[docs] {count} pages, {len(problems)} broken links" + ("" if problems else ": all local links resolve"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
