"""``renderer.render``: a preset (or spec) in, a render folder out. The CLI calls it too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..runtime.device import render_device
from ..runtime.quiet_tensorflow import use_backend_quietly
from ..store.frame_store import what_a_render_finds
from ..store.manifest import dreamreel_version
from ..store.shared_storage import at_url, is_url, location, staged
from .default_out import default_out
from .finished_render import finished_render, record_outputs
from .frame_loop import FrameProgress, render_frames
from .render_result import RenderResult
from .schedule_binding import prepare_audio
from .spec import RenderSpec, load_spec


def render(
    preset: str | RenderSpec,
    *,
    input: str | Path | None = None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    restart: bool = False,
    progress: FrameProgress | None = None,
    announce: Callable[[str], None] | None = None,
    max_frames: int | None = None,
    then: Callable[[Path], None] | None = None,
    **settings: Any,
) -> RenderResult:
    """Render ``preset`` (a shipped preset's name, a .toml path or a RenderSpec).

    input     -- a photo (zoom, progress) or a clip / frame folder (video)
    out       -- the render folder (default: renders/<preset>-<input>-<hash of the
                 settings>, see default_out.py), or a URL fsspec opens
                 (s3://bucket/x); an earlier render of the same settings there is resumed,
                 a different one refused (see restart)
    overrides -- ``"dream.steps=8"`` strings, as the CLI's --set takes them
    settings  -- the same as keywords: ``frames=48, dream={"steps": 8}``
    progress  -- called as (frames done, frames total, last loss or None)
    max_frames -- with an ``audio`` track, which sets the frame count: render only the
                 first max_frames (a preview; the CLI's --frames)
    then      -- called with the render folder once the frames are done, before a URL's
                 copy goes up (a chunk encodes its part of the clip: chunk_parts.py)
    """
    spec = load_spec(preset, overrides, input=None if input is None else str(input), **settings)

    # Without --out a folder of this recipe's own: decided before the track sets the length.
    target = location(out) if out is not None else default_out(spec)
    spec = prepare_audio(spec, max_frames)  # a track sets the length (audio_features.py)
    # Finished there already: its result, before a backend loads and with nothing written
    # (a chunk's `then` encodes its part: it runs as before).
    if not restart and then is None and not is_url(target):
        finished = finished_render(spec, Path(target))
        if finished is not None:
            if announce:
                announce(
                    f"dreamreel {dreamreel_version()}: {spec.name} ({spec.mode}) is "
                    f"finished already in {target}: nothing to render (--restart renders "
                    f"it again)"
                )
            return finished

    # The one choice of backend, before Keras loads (or one line: installed? already
    # another?); TensorFlow, when it is the backend, imported without its chatter.
    use_backend_quietly(spec.backend)
    if announce:
        announce(
            f"dreamreel {dreamreel_version()}: rendering {spec.name} ({spec.mode}) on "
            f"{render_device()} into {target}"
            + ("" if is_url(target) else f", {what_a_render_finds(target, restart)}")
        )
    # A URL renders into a local copy that goes up as it grows (renderer/store/shared_storage.py).
    with staged(target) as out_dir:
        result = render_frames(
            spec, None, out_dir, restart=restart, progress=progress, announce=announce
        )
        record_outputs(out_dir, result.outputs)  # the render ended: its outputs, last
        if then is not None:
            then(out_dir)
    return at_url(result, out_dir, target) if is_url(target) else result
