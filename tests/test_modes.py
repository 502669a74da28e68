"""The mode registry: spec, CLI and frame loop find modes there, and a new mode is one module."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from renderer.rendering.frame_loop import render_frames
from renderer.rendering.identity import render_identity
from renderer.rendering.modes.base import FrameOut, FrameStart, ModeBase
from renderer.rendering.modes.builtin import MODES, create_mode
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError


def test_the_built_in_modes_are_registered_with_their_tables():
    assert MODES.names() == ["morph", "progress", "video", "zoom"]
    assert set(MODES.tables()) == {"zoom", "video", "flow", "progress", "morph"}
    for cls in MODES.classes():
        for table in cls.settings.values():
            assert dataclasses.is_dataclass(table) and callable(table().check)


def test_an_unknown_mode_names_the_registered_ones():
    with pytest.raises(
        DreamreelError,
        match="mode must be one of morph, progress, video, zoom, got 'zoon'; did you mean zoom",
    ):
        load_spec("noise-zoom", ["mode=zoon"])


def test_a_zoom_identity_ignores_the_progress_table_but_progress_keeps_it():
    zoom = load_spec("noise-zoom")
    assert render_identity(zoom) == render_identity(load_spec("noise-zoom", ["progress.every=2"]))
    progress = load_spec("progress")
    assert render_identity(progress) != render_identity(load_spec("progress", ["progress.every=2"]))


@dataclasses.dataclass(frozen=True)
class StillSettings:
    """A plugin's own table: [still] in a preset, still.fade with --set."""

    fade: float = 0.5  # share of the last dream kept in the next frame's start

    def check(self, prefix: str) -> None:
        if not 0 <= self.fade <= 1:
            raise DreamreelError(f"{prefix}fade must be between 0 and 1")


class StillMode(ModeBase):
    """One photo dreamed again and again, each start fading from the last dream."""

    name = "still"
    columns = ("fade",)
    settings = {"still": StillSettings}
    private_tables = ("still",)

    def __init__(self, spec):
        self.spec, self.count, self.fps = spec, spec.frames, spec.fps
        self.photo = np.full((64, 64, 3), 120, np.float32)
        self.last = None

    def resume(self, done, store):
        self.last = store.read_frame(done - 1).astype(np.float32) if done else None
        return done

    def start(self, index, seed, ready):
        fade = self.spec.still.fade
        image = self.photo if self.last is None else fade * self.last + (1 - fade) * self.photo
        return FrameStart(image, {"octaves": 1}, {"fade": fade})

    def finish(self, index, result):
        frame = np.clip(np.rint(result.image), 0, 255).astype(np.uint8)
        self.last = frame.astype(np.float32)
        return FrameOut(frame)


@pytest.fixture
def still_mode():
    MODES.register(StillMode)
    yield StillMode
    MODES._modes.pop("still")


def test_a_mode_plugged_in_from_outside_renders_resumes_and_has_its_table(
    still_mode, embedded_cache, tmp_path
):
    from renderer.models.loading import load_dream_model

    spec = load_spec(
        "noise-zoom",
        ["mode=still", "frames=3", "dream.steps=1", "still.fade=0.25", "output.gif=false"],
    )
    assert spec.still.fade == 0.25 and isinstance(create_mode(spec), StillMode)
    with pytest.raises(DreamreelError, match="still.fade must be between 0 and 1"):
        load_spec("noise-zoom", ["mode=still", "still.fade=2"])
    model = load_dream_model("mobilenet_v2_dogs")
    result = render_frames(spec, model, tmp_path)
    assert result.frames == 3 and (tmp_path / "still.mp4").is_file()
    assert "fade" in (tmp_path / "losses.csv").read_text().splitlines()[0]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["spec"]["still"] == {"fade": 0.25}
    more = render_frames(load_spec(spec, ["frames=4"]), model, tmp_path)
    assert (more.frames, more.rendered) == (4, 1)
