"""A render's identity: what decides its pixels, hashed into manifest.json's spec_hash.

A resume must see the same identity, or it is refused (another render is in the folder).
It is assembled here and nowhere else, from:

- the spec, as the mode reads it (``Mode.identity``: each mode drops what decides none of
  its pixels, e.g. ``frames`` for a zoom, which only extends it);
- a mask and guide images by content (another file at the same path must not resume);
- the frame rate that schedules reading seconds or beats were bound to;
- the music track by content, when the spec names one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..schedules.audio_features import track_identity
from .guides import guide_file_identity
from .masks import mask_identity
from .modes.builtin import mode_class

if TYPE_CHECKING:
    from .spec import RenderSpec


def render_identity(
    spec: RenderSpec, *, schedule_fps: float | None = None, track: bool = False
) -> dict[str, Any]:
    """``spec``'s identity. ``schedule_fps``: the rate its schedules read time at, when
    one does (seconds and beats then fall on other frames at another rate); ``track``:
    include the music track's content (a render's; a spec alone leaves it out)."""
    identity = mode_class(spec.mode).identity(spec)
    if spec.mask:  # by content too: another mask at the same path must not resume
        identity["mask_content"] = mask_identity(spec.mask)
    if spec.objective is not None and spec.objective.guide_paths():
        identity["guide_images"] = guide_file_identity(spec.objective)  # by content
    if schedule_fps is not None:
        identity["schedule_fps"] = float(schedule_fps)
    if track and spec.audio:
        identity["audio_track"] = track_identity(spec.audio)
    return identity
