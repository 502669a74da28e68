"""Write samples/coherence.gif: the same dreamed pan at video.coherence 0.25 (carried and
faded, not held) beside 0.75 (the default: held to the scene), captioned.

    dreamreel render video-quick -i samples/pan.mp4 --out /tmp/c25 --set video.coherence=0.25
    dreamreel render video-quick -i samples/pan.mp4 --out /tmp/c75
    python samples/make_coherence_gif.py /tmp/c25 /tmp/c75 [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

CAPTION = 16  # px of caption strip above each side


def side(folder: Path, label: str) -> list[Image.Image]:
    frames = []
    for png in sorted((folder / "frames").glob("*.png")):
        picture = Image.open(png).convert("RGB")
        framed = Image.new("RGB", (picture.width, picture.height + CAPTION), "black")
        framed.paste(picture, (0, CAPTION))
        ImageDraw.Draw(framed).text((4, 2), label, fill="white")
        frames.append(framed)
    return frames


def main() -> None:
    loose, held = Path(sys.argv[1]), Path(sys.argv[2])
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(__file__).with_name("coherence.gif")
    left = side(loose, "coherence 0.25: carried, not held")
    right = side(held, "coherence 0.75 (default): held")
    joined = []
    for a, b in zip(left, right):
        both = Image.new("RGB", (a.width + b.width + 4, a.height), "black")
        both.paste(a, (0, 0))
        both.paste(b, (a.width + 4, 0))
        joined.append(both.quantize(colors=128, dither=Image.Dither.NONE))
    joined[0].save(out, save_all=True, append_images=joined[1:], duration=83, loop=0)


if __name__ == "__main__":
    main()
