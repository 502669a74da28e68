"""``renderer.render``: a preset (or spec) in, a render folder out. The CLI calls it too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..store.shared_storage import at_url, is_url, location, staged
from .frame_loop import FrameProgress, RenderResult, render_frames
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
    out       -- the render folder (default: renders/<preset name>), or a URL fsspec opens
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
    from ..runtime.backend_choice import use

    use(spec.backend)  # before Keras loads (or one line: installed? already another?)
    from .schedule_binding import prepare_audio

    spec = prepare_audio(spec, max_frames)  # a track sets the length (audio_features.py)
    target = location(out) if out is not None else Path("renders") / spec.name
    # A URL renders into a local copy that goes up as it grows (renderer/store/shared_storage.py).
    with staged(target) as out_dir:
        result = _render_into(spec, out_dir, restart, progress, announce)
        if then is not None:
            then(out_dir)
    return at_url(result, out_dir, target) if is_url(target) else result


def _render_into(
    spec: RenderSpec,
    out_dir: Path,
    restart: bool,
    progress: FrameProgress | None,
    announce: Callable[[str], None] | None,
) -> RenderResult:
    from .seeds import resolve_random_seed

    spec, seed_note = resolve_random_seed(spec, out_dir, restart=restart)
    if seed_note and announce:
        announce(seed_note)
    from ..engine.objectives import resolved_objective
    from ..models.zoo import cached_dream_model
    from ..store.out_folder import removed_if_nothing_rendered

    with removed_if_nothing_rendered(out_dir):  # a failure before frame 0 leaves no folder
        # Kept between calls: a notebook rendering again pays for the frames alone.
        objective = resolved_objective(spec.objective, spec.model)
        layers = spec.layer_weights(0) if objective is None else objective.layer_names()
        model = cached_dream_model(
            spec.model, layers, preprocess=spec.preprocess, announce=announce
        )
        return render_frames(
            spec, model, out_dir, restart=restart, progress=progress, announce=announce
        )
