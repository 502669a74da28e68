"""``dreamreel preview``: what a render of a spec will do, in seconds, before committing
hours to it, and without loading the model (except for ``--look``).

Into a folder of its own (``previews/<the render's default folder name>``, never the
render's folder), each file written atomically:

- path.gif: the camera path and timing over the input, the clip or the noise, a caption
  under each frame (renderer/rendering/preview_path.py);
- schedules.png: every value the render reads per frame, the music track's features and
  beats under them (renderer/rendering/preview_schedules.py);
- look.jpg (``look`` > 0): frames dreamed at a reduced size (renderer/rendering/preview_look.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..media.images import write_image_atomic
from ..media.writer import GifWriter
from ..runtime.atomic_files import user_os_errors
from ..runtime.errors import DreamreelError, Refused
from .default_out import default_out
from .preflight import input_paths
from .preview_look import look_frames, look_sheet
from .preview_path import path_preview
from .preview_plan import plan_preview
from .preview_schedules import schedules_picture

if TYPE_CHECKING:
    from .spec import RenderSpec

PREVIEWS_DIR = Path("previews")
PATH_GIF = "path.gif"
SCHEDULES_PNG = "schedules.png"
LOOK_JPG = "look.jpg"
PREVIEW_FILES = (PATH_GIF, SCHEDULES_PNG, LOOK_JPG)
MAX_LOOK = 64  # tiles: a contact sheet of more is no glance


@dataclass
class PreviewResult:
    folder: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def preview_folder(spec: RenderSpec) -> Path:
    """``previews/<name>``: the name of the folder the render would use by default."""
    return PREVIEWS_DIR / default_out(spec).name


def check_preview_folder(spec: RenderSpec, folder: Path, *, chosen: bool) -> None:
    """Refuse (Refused: one line, exit 3) a folder whose preview files would replace one
    of the render's inputs; for the default folder (not ``chosen`` by the user), one
    reached through a symbolic link: the preview follows no link out of previews/."""
    if not chosen:
        for part in (PREVIEWS_DIR, folder):
            with user_os_errors(part, "create preview folder"):
                linked = part.is_symlink()
            if linked:
                raise Refused(
                    f"'{part}' is a symbolic link: the preview writes only inside "
                    f"{PREVIEWS_DIR}/ and follows no link out of it; remove the link or "
                    f"choose a folder with -o DIR"
                )
    targets = {(folder / name).resolve(): name for name in PREVIEW_FILES}
    for what, path in input_paths(spec):
        name = targets.get(Path(path).resolve())
        if name is not None:
            raise Refused(
                f"the {what} '{path}' is where the preview writes its {name}: "
                f"choose another folder with -o DIR"
            )


def write_preview(
    spec: RenderSpec,
    folder: Path,
    *,
    max_frames: int | None = None,
    look: int = 0,
    chosen: bool = False,
    announce: Callable[[str], None] | None = None,
) -> PreviewResult:
    """Write the preview of ``spec`` into ``folder``. ``max_frames``: ``--frames`` with a
    music track (its first N frames, as the render); ``look``: frames to dream."""
    if not 0 <= look <= MAX_LOOK:
        raise DreamreelError(f"--look must be from 0 to {MAX_LOOK} frames, got {look}")
    check_preview_folder(spec, folder, chosen=chosen)
    plan = plan_preview(spec, max_frames)
    result = PreviewResult(folder)
    # A progress render is one dream: its look is that dream's snapshots.
    looked = look_frames(plan, look) if look and spec.mode != "progress" else []
    path = path_preview(plan, also=looked)
    if path is None:
        result.notes.append(f"no camera path for {spec.mode} renders: schedules only")
    else:
        result.notes += path.notes
        gif = folder / PATH_GIF
        with GifWriter(gif, max(path.gif_fps, 0.2)) as writer:
            for frame in path.frames:
                writer.add(frame)
        result.files.append(gif)
    plot = folder / SCHEDULES_PNG
    write_image_atomic(plot, schedules_picture(plan, path))
    result.files.append(plot)
    if look and (path is not None or spec.mode == "progress"):
        if announce:
            announce(f"--look: loading {spec.model} to dream {look} frames")
        if spec.mode != "progress":
            result.notes.append(
                "look.jpg: each frame dreamed on its own from its start picture; the "
                "render's dream builds up from frame to frame"
            )
        starts = {} if path is None else path.starts
        sheet = look_sheet(plan, starts, look, announce=announce)
        write_image_atomic(folder / LOOK_JPG, sheet)
        result.files.append(folder / LOOK_JPG)
    return result
