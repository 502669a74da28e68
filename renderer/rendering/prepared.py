"""A render prepared once: every value its frames depend on, computed in one place before
the first frame and handed to the frame loop, the mode and the store.

``prepared_render`` is the one way in: ``renderer.render`` (so the CLI, a batch's jobs
and a chunked clip's chunks) goes through it. Nothing after it resolves a seed, chooses a
backend, resolves or binds the objective, reads a guide or a mask, or assembles the
identity or the recipe again.

Order matters and is kept: the seed is drawn (or read back) first, since a zoom's noise
depends on it; the model loads before the input opens, so a bad model fails without
touching the input; the input (the mode), the mask and the folder's lock open together
and close together, however the render ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.objective_graph import bind
from ..engine.objective_layers import resolved_objective
from ..models.loading import cached_dream_model
from ..runtime.allocator import reuse_freed_buffers
from ..runtime.errors import WarningNote
from ..store.manifest import build_manifest
from ..store.out_folder import removed_if_nothing_rendered
from ..store.render_lock import render_lock
from .guides import read_guides
from .masks import FrameMasks, open_masks
from .modes.builtin import create_mode
from .modes.video_hold import held_objective
from .preflight import check_out_folder
from .recipe import recipe_text
from .schedule_binding import bind_render
from .seeds import earlier_manifest, resolve_random_seed
from .stage_clock import StageClock

if TYPE_CHECKING:
    from ..engine.objective_graph import BoundObjective
    from ..media.audio import AudioSource
    from ..models.loading import DreamModel
    from .modes.base import Mode
    from .spec import RenderSpec

Announce = Callable[[str], None]


@dataclass(frozen=True)
class PreparedRender:
    """What a render computes once, before its first frame."""

    spec: RenderSpec  # seed resolved, schedules bound to the render's fps and track
    out_dir: Path
    restart: bool  # earlier frames in out_dir discarded, not resumed
    mode: Mode  # open (its input), holding the same bound spec
    masks: FrameMasks  # open
    model: DreamModel
    objective: BoundObjective | None  # resolved, bound, guides read (None: the layers)
    identity: dict[str, Any]  # what decides the pixels (manifest's spec_hash)
    manifest: dict[str, Any]  # manifest.json as the store starts it (tile size included)
    tile_size: int
    audio: AudioSource | None  # the MP4's sound: the mode's, else the spec's track
    clock: StageClock  # this run's time per stage, from the input's opening on
    # What every output carries (rendering/recipe.py): the frames' PNG text chunk, the
    # MP4's comment tag, the GIF's comment.
    recipe: str = ""


@contextlib.contextmanager
def prepared_render(
    spec: RenderSpec,
    out_dir: Path,
    *,
    restart: bool = False,
    announce: Announce | None = None,
    model: DreamModel | None = None,
) -> Iterator[PreparedRender]:
    """Prepare ``spec`` for rendering into ``out_dir`` (its backend already chosen: Keras
    loads with the model here, unless ``model`` is one loaded already). A failure before
    the first frame leaves no folder it created; leaving the block closes the input, the
    mask and the lock."""
    check_out_folder(spec, out_dir, restart=restart)  # links, inputs, a foreign manifest
    # The folder's earlier manifest, read once: its seed (seed = -1) and its tile size.
    earlier = None if restart else earlier_manifest(out_dir)
    spec, seed_note = resolve_random_seed(spec, out_dir, restart=restart, earlier=earlier)
    if seed_note and announce:
        announce(seed_note)
    with removed_if_nothing_rendered(out_dir):  # a failure before frame 0 leaves no folder
        # a video whose dream is held to earlier frames: its objective's temporal term
        objective = held_objective(spec, resolved_objective(spec.objective, spec.model))
        layers = spec.layer_weights(0) if objective is None else objective.layer_names()
        if model is None:  # kept between calls: a notebook rendering again pays only frames
            model = cached_dream_model(
                spec.model, layers, preprocess=spec.preprocess, announce=announce
            )
        reuse_freed_buffers()  # frame-sized temporaries without page faults (allocator.py)
        clock = StageClock()
        with clock.stage("open"):  # opening the input (probing a clip, listing a folder)
            mode = create_mode(spec)
        # One render per folder, from before it writes there until it ends (render_lock).
        with mode, open_masks(spec, mode) as masks, render_lock(out_dir):
            for note in mode.notes() if announce else ():
                announce(WarningNote(note))  # the CLI shows it even with --quiet
            mode.clock = clock  # the mode times its own stages (decode, flow, carry...)
            yield _prepared(
                spec, Path(out_dir), mode, masks, model, objective, restart, earlier, clock
            )


def _prepared(
    spec: RenderSpec,
    out_dir: Path,
    mode: Mode,
    masks: FrameMasks,
    model: DreamModel,
    objective: Any,
    restart: bool,
    earlier: dict | None,
    clock: StageClock,
) -> PreparedRender:
    # Schedules read the render's own fps and music track; the mode gets the bound spec
    # too (renderer/rendering/schedule_binding.py), and so does the objective's weights.
    bound = bind_render(spec, mode, objective)
    manifest = build_manifest(
        bound.spec.to_dict(),
        model,
        identity=bound.identity,
        mode=mode.name,
        fps=mode.fps,
        **bound.manifest,
    )
    tile_size = manifest["tile_size"] = _tile_size(bound.spec, earlier, manifest, restart)
    return PreparedRender(
        bound.spec,
        out_dir,
        restart,
        mode,
        masks,
        model,
        _bound_objective(bound.objective, model),
        bound.identity,
        manifest,
        tile_size,
        bound.audio,
        clock,
        recipe=recipe_text(manifest),
    )


def _bound_objective(objective: Any, model: DreamModel) -> BoundObjective | None:
    """The objective bound to ``model``, its guide images read (None: the classic layers
    objective)."""
    if objective is None:
        return None
    return bind(objective, model, read_guides(objective))


def _tile_size(spec: RenderSpec, earlier: dict | None, manifest: dict, restart: bool) -> int:
    """The tile side this render dreams with. ``"auto"`` follows the machine's memory, so
    it is resolved once per render folder and kept in the manifest: a resume, here or on a
    machine with other memory, dreams with the tiles its first frames were dreamed with
    (tiles move pixels slightly). ``earlier``: the folder's manifest before this run."""
    resolved = spec.dream_settings().resolved_tile_size()
    if restart or spec.dream.tile_size != "auto":
        return resolved
    recorded = (earlier or {}).get("tile_size")
    same_render = earlier is not None and earlier.get("spec_hash") == manifest["spec_hash"]
    if same_render and isinstance(recorded, int) and not isinstance(recorded, bool):
        return recorded
    return resolved
