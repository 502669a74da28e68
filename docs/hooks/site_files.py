"""mkdocs hooks (mkdocs.yml, `hooks:`): the pictures from their one copy, and a site that
reaches no other host, so it opens from file:// with no network.

- The pages show the example GIFs that live in samples/ (the README shows them too): a page
  writes ../samples/NAME.gif, the path that works where GitHub shows docs/*.md, and these
  hooks serve samples/*.gif as site/samples/NAME.gif and point the page there, so strict
  mode checks each picture like any other link and no second copy lives under docs/.
- The theme's JavaScript names two scripts it would fetch from a CDN on demand (a
  ResizeObserver polyfill for browsers without one, mermaid for diagrams; these docs use
  neither): they become an empty inline script. Then the whole site is searched for a CDN
  or web-font host, and the build fails naming the file if one is left.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

SAMPLES = "samples"
CDN_HOSTS = re.compile(
    r"https?://(fonts\.googleapis|fonts\.gstatic|cdn\.|unpkg|cdnjs|[a-z0-9.-]*jsdelivr)[^\s\"'`)]*"
)
EMPTY_SCRIPT = "data:text/javascript,"
TEXT_SUFFIXES = {".html", ".js", ".css", ".json", ".map", ".xml", ".txt"}


def _repo(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files: Files, config) -> Files:
    for gif in sorted((_repo(config) / SAMPLES).glob("*.gif")):
        files.append(File.generated(config, f"{SAMPLES}/{gif.name}", abs_src_path=str(gif)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    up = "../" * page.file.src_uri.count("/")
    return markdown.replace(f"]({up}../{SAMPLES}/", f"]({up}{SAMPLES}/")


def on_post_build(config) -> None:
    site = Path(config.site_dir)
    for path in sorted(site.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if path.parent == site / "assets" / "javascripts" and CDN_HOSTS.search(text):
            text = CDN_HOSTS.sub(EMPTY_SCRIPT, text)
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
        found = CDN_HOSTS.search(text)
        if found:
            raise PluginError(
                f"{path.relative_to(site)} reaches {found.group(0)}: the docs must open "
                "offline (no CDN, no web fonts)"
            )
