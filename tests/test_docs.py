"""The docs name what dreamreel has, and the README keeps its promises: every shipped preset,
command, flag and setting appears in docs/ (so a new one without docs fails here), the
README still opens with its two setup commands, and every relative link or picture in the
README and docs/ points at a file that exists (as GitHub shows them; `mkdocs build
--strict` checks the built site the same way). Reads text only: no TensorFlow."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from renderer.cli.main import build_parser
from renderer.rendering.modes.builtin import MODES
from renderer.rendering.preset_files import preset_names
from renderer.rendering.spec import DreamTable, OutputSettings, RenderSpec

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'"
SETUP_COMMANDS = [
    f"{INSTALL} && .venv/bin/dreamreel render noise-zoom",
    f"{INSTALL} && .venv/bin/python -m pytest",
]
# Not settings a user writes: the modes' tables (documented key by key) and the preset's
# own name, which the loader fills in.
INTERNAL_FIELDS = {"tables", "name"}


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def all_docs() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def test_the_readme_opens_with_the_two_setup_commands():
    blocks = re.findall(r"```sh\n(.*?)\n```", README.read_text(encoding="utf-8"), re.S)
    assert blocks[:2] == SETUP_COMMANDS


@pytest.mark.parametrize("preset", preset_names())
def test_every_preset_is_on_the_presets_page(preset):
    assert f"| `{preset}` |" in page("settings.md")


def _options(parser: argparse.ArgumentParser, path: str = "dreamreel"):
    """(command path, option string) of every long flag, and each sub-command's path."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{path} {name}", None
                yield from _options(sub, f"{path} {name}")
        else:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    yield path, option


@pytest.mark.parametrize("command, option", list(_options(build_parser())))
def test_every_command_and_flag_is_on_the_command_line_page(command, option):
    cli = page("cli.md")
    assert command in cli
    if option:
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", cli), f"{command} {option}"


def _settings():
    top = [f.name for f in dataclasses.fields(RenderSpec) if f.name not in INTERNAL_FIELDS]
    yield from (("", name) for name in top)
    tables = {"dream": DreamTable, "output": OutputSettings, **MODES.tables()}
    for table, cls in tables.items():
        yield from ((table, f.name) for f in dataclasses.fields(cls))


@pytest.mark.parametrize("table, key", list(_settings()))
def test_every_setting_is_in_the_docs(table, key):
    text = all_docs()
    assert f"`{table}`" in text or not table
    assert re.search(rf"`({re.escape(table)}\.)?{re.escape(key)}`", text), f"{table}.{key}"


def _relative_links(path: Path):
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
            yield target.split("#")[0]


@pytest.mark.parametrize("doc", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_every_relative_link_and_picture_exists(doc):
    missing = [t for t in _relative_links(doc) if not (doc.parent / t).exists()]
    assert not missing
