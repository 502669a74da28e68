"""The arguments that make a render's spec (render and preview take the same ones), and
``--seed/--frames/--size``: shorthands that become ``--set`` overrides.

They are turned into the same ``key=value`` strings ``--set`` takes, so a bad value gets
the same one-line refusal as ``--set`` would give it. What ``--size`` sets depends on the
mode: a zoom or progress image is exactly WxH; a video keeps its clip's aspect, so WxH
caps its long side at max(W, H) (``video.max_size``).
"""

from __future__ import annotations

import re

from ..runtime.errors import DreamreelError

SIZE_HELP = (
    "output size, e.g. 640x360: width and height of a zoom or progress render; "
    "for a video, its long side at most max(W, H) (video.max_size; the clip's "
    "aspect is kept)"
)
# At most 9 digits a side: int() refuses 4300+, and no frame is near a billion pixels.
_SIZE = re.compile(r"^\s*(\d{1,9})\s*[xX]\s*(\d{1,9})\s*$")


def shorthand_overrides(
    mode: str, *, seed: str | None = None, frames: str | None = None, size: str | None = None
) -> list[str]:
    overrides = []
    if seed is not None:
        overrides.append(f"seed={seed}")
    if frames is not None:
        if mode == "video":
            raise DreamreelError(
                "--frames sets the length of a zoom or progress render; a "
                "video's frames come from its clip: choose them with --set "
                "video.end=SECONDS or --set video.end_frame=N"
            )
        if mode == "morph":
            raise DreamreelError(
                "--frames sets the length of a zoom or progress render; a "
                "morph has photos x morph.hold + fades x morph.fade frames: "
                "choose them with --set morph.hold=N --set morph.fade=N"
            )
        overrides.append(f"frames={frames}")
    if size is not None:
        width, height = parse_size(size)
        if mode == "video":
            overrides.append(f"video.max_size={max(width, height)}")
        else:
            overrides += [f"width={width}", f"height={height}"]
    return overrides


def parse_size(text: str) -> tuple[int, int]:
    match = _SIZE.match(text)
    if not match:
        shown = text if len(text) <= 40 else f"{text[:37]}..."  # one readable line
        raise DreamreelError(f"--size expects WIDTHxHEIGHT in pixels, e.g. 640x360, got {shown!r}")
    return int(match[1]), int(match[2])


def add_spec_arguments(parser) -> None:
    """PRESET_OR_TOML, -i, --set, --seed, --frames, --audio, --size: what decides the spec
    (``dreamreel render`` and ``dreamreel preview`` read them alike)."""
    parser.add_argument(
        "preset",
        metavar="PRESET_OR_TOML",
        help="a shipped preset's name (dreamreel presets list), or a TOML file: a path "
        "(x.toml, ./mine); a bare name is the shipped preset's even beside a folder of that "
        "name; or a render's folder, manifest.json, frame PNG, GIF or MP4: the recipe it "
        "carries (dreamreel info FILE shows it)",
    )
    parser.add_argument(
        "-i",
        "--input",
        action="append",
        metavar="PATH",
        help="input image or clip (default: the preset's, else noise); a morph takes "
        "several: repeat --input for its photos, in order",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset key, e.g. dream.steps=30 (KEY= or KEY=none: back to its default)",
    )
    parser.add_argument("--seed", metavar="N", help="the same as --set seed=N (negative: random)")
    parser.add_argument(
        "--frames",
        metavar="N",
        help="the same as --set frames=N (zoom and progress renders; with "
        "--audio, the track sets the length and N keeps the first N)",
    )
    parser.add_argument(
        "--audio",
        metavar="PATH",
        help='a music track: "audio: ..." schedules follow it, it sets a '
        "zoom's length and the MP4 carries it (the same as --set audio=PATH)",
    )
    parser.add_argument("--size", metavar="WxH", help=SIZE_HELP)
