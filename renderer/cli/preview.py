"""``dreamreel preview``: what ``dreamreel render`` with the same arguments will do, in
seconds and without TensorFlow (renderer/rendering/preview.py draws it).

The arguments are render's (a preset, --input, --set, --seed, --frames, --audio, --size)
and are checked as render checks them, before anything is drawn; -o chooses the folder
(default: previews/<the render's folder name>), --look N dreams N frames (loads the model).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..rendering.preflight import check_before_loading
from ..runtime.errors import DreamreelError
from ..runtime.redaction import redacted
from ..store.shared_storage import is_url
from .commands import _render_spec
from .shorthand_flags import add_spec_arguments, shorthand_overrides


def add_preview_arguments(parser) -> None:
    add_spec_arguments(parser)  # render's own: a preview of what that render would do
    parser.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        help="where path.gif, schedules.png (and look.jpg) go (default: "
        "previews/<the folder name the render would use>)",
    )
    parser.add_argument(
        "--look",
        metavar="N",
        help="also dream N evenly spaced frames at a reduced size into look.jpg (1 to 64, "
        "rendering/preview.py MAX_LOOK); this loads the model (TensorFlow): seconds to minutes",
    )


def cmd_preview(args) -> int:
    from ..rendering.preview import preview_folder, write_preview  # lazy: loads OpenCV, numpy

    look = _look_count(args.look)
    # Everything render refuses before loading TensorFlow is refused here alike.
    spec = _render_spec(args, args.overrides)
    shorthands = shorthand_overrides(spec.mode, seed=args.seed, frames=args.frames, size=args.size)
    if shorthands:  # after the --set's, through the same checks
        spec = _render_spec(args, [*args.overrides, *shorthands])
    check_before_loading(spec)
    if args.out is not None and is_url(args.out):
        raise DreamreelError(
            f"-o {redacted(args.out)}: a preview is written to a local folder; give a path"
        )
    folder = Path(args.out) if args.out is not None else preview_folder(spec)
    result = write_preview(
        spec,
        folder,
        max_frames=spec.frames if args.frames is not None else None,
        look=look,
        chosen=args.out is not None,
        announce=lambda line: print(line, file=sys.stderr),
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for path in result.files:
        print(f"wrote {path}", file=sys.stderr)
    print(f"preview of {spec.name} ({spec.mode}) in {folder}/", file=sys.stderr)
    return 0


def _look_count(text: str | None) -> int:
    from ..rendering.preview import MAX_LOOK  # lazy: loads OpenCV, numpy

    if text is None:
        return 0
    try:
        count = int(text.strip())
    except ValueError:
        count = -1
    if not 1 <= count <= MAX_LOOK:
        shown = text if len(text) <= 20 else f"{text[:17]}..."
        raise DreamreelError(
            f"--look expects a number of frames from 1 to {MAX_LOOK}, got {shown!r}"
        )
    return count
