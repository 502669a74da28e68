"""Every shipped preset rendered small, and what it wrote, as one line each: a digest of the
frames and the manifest's spec_hash. For a change that must not move a pixel (a
refactor): run it before and after, and diff the two outputs.

    PYTHONPATH=. python benchmarks/preset_fingerprints.py > before.txt
    ... the change ...
    PYTHONPATH=. python benchmarks/preset_fingerprints.py > after.txt
    diff before.txt after.txt

About 2 minutes on 2 CPU cores. Each render runs as its own `dreamreel render` process
(as a user runs it); the video presets dream over a 2 s clip made here from a sample
photo, with sound. The inputs are copied to one fixed folder first
(TMPDIR/dreamreel-fingerprints): a render's identity holds its inputs' paths, so two
checkouts compare only through the same paths. `--keep DIR` keeps the render folders
(e.g. to resume one of them with the code after the change: it must resume, and end with
the same frames).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
INPUTS = Path(tempfile.gettempdir()) / "dreamreel-fingerprints"
SMALL = "--size 96x96"
# name, preset, arguments: small, but each preset's own mode, model and features.
RENDERS = [
    ("noise-zoom", "noise-zoom", f"--frames 4 {SMALL}"),
    ("zoom-loop", "zoom-loop", f"--frames 6 {SMALL} --set zoom.loop=3"),
    ("zoom-hd", "zoom-hd", f"--frames 3 {SMALL}"),
    (
        "inception-classic",
        "inception-classic",
        f"--frames 2 {SMALL} --set model=mobilenet_v2_dogs --set layers=block_12_expand_relu",
    ),
    ("audio-zoom", "audio-zoom", f"--audio {{inputs}}/beat.m4a --frames 5 {SMALL}"),
    ("progress", "progress", f"--input {{inputs}}/photos/chelsea.jpg {SMALL}"),
    (
        "morph",
        "morph",
        "--input {inputs}/photos --set width=96 --set morph.hold=2 --set morph.fade=2",
    ),
    ("video-quick", "video-quick", "--input {clip}"),
    ("video-dream", "video-dream", "--input {clip} --set video.max_size=96 --set dream.steps=2"),
    ("video-preview", "video-preview", "--input {clip} --set video.max_size=96"),
    ("video-chunks", "video-quick", "--input {clip} --chunks 2 --set video.every=1"),
]


def copy_inputs() -> Path:
    """The sample photos and track, at the same paths whichever checkout runs this."""
    shutil.rmtree(INPUTS, ignore_errors=True)
    (INPUTS / "photos").mkdir(parents=True)
    for photo in ("astronaut.jpg", "chelsea.jpg", "coffee.jpg"):
        shutil.copyfile(SAMPLES / photo, INPUTS / "photos" / photo)
    shutil.copyfile(SAMPLES / "beat.m4a", INPUTS / "beat.m4a")
    return INPUTS


def make_clip(path: Path) -> Path:
    """A 2 s, 12 fps H.264/AAC clip: a slow push into the cat photo, with a tone."""
    import imageio_ffmpeg

    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-y",
            "-loop",
            "1",
            "-i",
            str(SAMPLES / "chelsea.jpg"),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-vf",
            "scale=160:120,zoompan=z='1+0.01*on':d=1:s=160x120:fps=12",
            "-t",
            "2",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-shortest",
            str(path),
        ],
        check=True,
    )
    return path


def fingerprint(out: Path) -> str:
    frames = sorted((out / "frames").glob("*.png"))
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in frames)).hexdigest()[:16]
    manifest = json.loads((out / "manifest.json").read_text())
    return f"frames={len(frames)} digest={digest} spec_hash={manifest.get('spec_hash')}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="render into DIR and keep the folders")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        where = args.keep or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        inputs = copy_inputs()
        clip = make_clip(inputs / "clip.mp4")
        failed = 0
        for name, preset, extra in RENDERS:
            out = where / name
            argv = [
                sys.executable,
                "-m",
                "renderer.cli",
                "render",
                preset,
                "--out",
                str(out),
                "--quiet",
                *extra.format(clip=clip, inputs=inputs).split(),
            ]
            run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
            if run.returncode:
                failed += 1
                print(f"{name}: exit {run.returncode}: {run.stderr.strip().splitlines()[-1:]}")
                continue
            print(f"{name}: {fingerprint(out)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
