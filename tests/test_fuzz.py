"""The fuzz battery (issue 19, item 3): hostile inputs at every edge a user's file reaches.

Mutated clips of each container the suite makes (MP4, MKV, AVI, MOV, WebM, NUT, GIF)
go through `renderer.media.probe`, the reader (every frame, a resume from the middle,
and the sound through the MP4 writer's sound path) and `render --dry-run`; so do clips
in a codec FFmpeg has no decoder for and clips whose timestamps jump far ahead. Mutated
images (PNG, JPEG, GIF, WebP, BMP, TIFF, Radiance HDR, PFM, PAM, PPM, a PNG with alpha,
a JPEG with EXIF orientation, a 16-bit PNG) go through `read_image` and `--dry-run`;
folders of numbered frames with one frame mutated through the reader; mutated masks and
guide images, and mutated music tracks (wav, m4a, ogg, mp3), through `--dry-run`
(tracks also through the audio features). Mutated presets go through `render
--dry-run`, mutated jobs files through `batch` (everything before the first render);
mutated schedules and objectives through their parsers (a schedule evaluated over 48
frames), and through `--set` on `--dry-run`, with hostile values for known keys and
hostile paths.

Each case must end in a result (frames, a value, exit 0) or one DreamreelError line
(exit 2 with one `dreamreel: error:` line): never a traceback, a hang past its time
bound, memory past its bound, threads left running, or TensorFlow imported. The
mutations are seeded and the seeds made bit-exact, so CI sees the same cases every run.
All cases run in one child process (tests/fuzz_inputs.py) under an address-space limit,
each under an alarm, with a watchdog for hangs in C code.

The summary (cases per kind and their outcomes, every finding with its mutation) is
printed (pytest -s) and written to fuzz-summary.json in the battery's temporary folder,
or to $DREAMREEL_FUZZ_SUMMARY; $DREAMREEL_FUZZ_KEEP=DIR keeps a copy of each finding's
input.
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import shutil
import subprocess
import wave
from fractions import Fraction
from pathlib import Path

import av
import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from fuzz_inputs import (
    EXPECTED,
    hostile_setting,
    mutate_bytes,
    mutate_expression,
    mutate_toml,
    run_cases,
    shortened,
    signature,
)
from PIL import Image

from renderer.rendering.preset_files import preset_names, resolve_preset
from renderer.runtime.errors import DreamreelError

# Cases per seed: the whole file takes ~17 s on this 2-core machine (measured while other
# tests ran; the budget is ~40 s): the clips cost most (~30 ms a case), texts ~0.1 ms.
CLIP_CASES = 40  # per container
CLIP_DRY_RUNS = 8  # per container: the mutated clip as a video render's --input
IMAGE_CASES = 60  # per format
IMAGE_DRY_RUNS = 5
PRESET_CASES = 10  # per shipped preset
JOBS_CASES = 60
SETTING_CASES = 50  # --set KEY=<a hostile value> on --dry-run
FOLDER_CASES = 20  # folders of numbered frames, one frame mutated
MASK_CASES = 20  # mutated masks (images and clips) on a video's dry run
GUIDE_CASES = 16  # mutated guide images in an objective, on a dry run
TRACK_CASES = 12  # per kind of music track
TRACK_DRY_RUNS = 3
SCHEDULE_CASES = 2000
OBJECTIVE_CASES = 2000
SET_CASES = 30  # of each: a schedule and an objective through --set on --dry-run

CASE_SECONDS = 5.0  # the alarm per case
WATCHDOG_SECONDS = 20.0  # a hang in C code, where no alarm gets through
MEMORY_BYTES = 3 << 30  # the child's address space
GROWTH_BYTES = 512 << 20  # the most one case may add to the child's peak memory

TONE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=1"]
CONTAINERS = {
    "mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "4", "-c:a", "aac"],
    "mov": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "4", "-c:a", "pcm_s16le"],
    "mkv": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "4", "-c:a", "aac"],
    "avi": ["-c:v", "mpeg4", "-g", "4", "-c:a", "pcm_s16le"],
    "webm": ["-c:v", "libvpx", "-g", "4", "-c:a", "libopus"],
    "nut": ["-c:v", "mpeg4", "-g", "4", "-c:a", "pcm_s16le"],
    "gif": ["-c:v", "gif"],
}
# The same bytes every run and machine (Matroska writes random UIDs otherwise, and an
# encoder's output may depend on its thread count).
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
BITEXACT += ["-threads", "1"]
# Codec tags to make unknown (same length, so every offset holds): a stream FFmpeg
# demuxes but has no decoder for, so PyAV gives it no codec context.
CODEC_TAGS = (b"V_MPEG4/ISO/AVC", b"A_AAC", b"V_VP8", b"A_OPUS", b"avc1", b"mp4a", b"sowt", b"FMP4")
# How each mutated clip is opened (open_video's options), in turn.
RANGES = ({}, {}, {"every": 2, "max_size": 20}, {"start": 0.25, "end": 0.75})
IMAGE_FORMATS = (
    *("png", "jpg", "gif", "webp", "bmp", "tif", "hdr", "pfm", "pam", "ppm"),
    *("alpha.png", "exif.jpg", "16.png"),
)

SCHEDULES = (
    "0:(1.02 + 0.01*sin(2*pi*t/48))",
    "0:(1), 24:(1.05), 47:(0.98)",
    "0:(0.4*sin(2*pi*s/8))",
    "0:(clip(1 + t/100, 1, 1.2)), 30:(where(t < 40, 1.1, 1.0))",
    "1.03",
    "audio: 1.005 + 0.045*onset",
)
OBJECTIVES = (
    "layer:block_13_expand_relu + 0.5*channel:block_12_expand_relu:37 - 0.1*tv",
    "class:golden_retriever",
    'guide:"my dog.jpg" + tv*0.1',
    "neuron:block_12_expand_relu:5 - 0.25*guide_match:block_13_expand_relu:a.png",
)
OBJECTIVE_TOKENS = (
    *("layer:", "channel:", "neuron:", "class:", "guide:", "guide_match:", "tv"),
    *("*", "+", " - ", "-", ":", "37", "-1", "1e400", "9" * 400, "nan", "inf"),
    *('"', "'", " ", "block_13_expand_relu", "..", "/", "\\", "\x00", "é", "(", ")", "**"),
)
OBJECTIVE_WEIGHTS = (1.0, -0.5, 0, 1e308, float("inf"), float("nan"), "0:(0), 48:(1)", "x", [], {})

JOBS = """\
# a batch: a grid of seeds and inputs, sets as a list and as a table
out = "renders"
set = ["width=64", "height=64", "frames=4"]

[[job]]
name = "zoom"
preset = "noise-zoom"
seed = [1, 2]
input = ["a.png", "b.png"]
set = { "dream.steps" = 2, "zoom.scale" = "0:(1.01), 2:(1.02)" }

[[job]]
preset = "progress"
input = "a.png"
set = ["objective=\\"layer:block_13_expand_relu - 0.1*tv\\""]
cpus = 1
"""


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def make_clips(folder: Path) -> dict[str, Path]:
    """One seed clip per container: 8 frames of 32x24 at 8 fps, with 1 s of sound
    where the container takes it."""
    return {name: make_clips_of(folder, name) for name in CONTAINERS}


def make_clips_of(folder: Path, name: str) -> Path:
    path = folder / f"seed.{name}"
    sound = TONE if name != "gif" else []
    video = ["-f", "lavfi", "-i", "testsrc=size=32x24:rate=8:duration=1"]
    ffmpeg(*video, *sound, *CONTAINERS[name], *BITEXACT, "-frames:v", "8", path.as_posix())
    return path


def make_far_clips(folder: Path) -> dict[str, Path]:
    """Clips whose timestamps jump far ahead (issue 19): the sound 30 minutes after the
    picture, and a last frame an hour after the others."""
    video = ["-f", "lavfi", "-i", "testsrc=size=32x24:rate=8:duration=1"]
    late_sound = ["-itsoffset", "1800", *TONE]
    late_frame = ["-vf", r"setpts=PTS+if(eq(N\,7)\,3600/TB\,0)", "-fps_mode", "passthrough"]
    h264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-frames:v", "8", *BITEXACT]
    made = {}
    for suffix in ("mkv", "mp4"):
        made[f"far-sound.{suffix}"] = [*video, *late_sound, *h264, "-c:a", "aac"]
        made[f"far-frame.{suffix}"] = [*video, *late_frame, *h264]
    for name, args in made.items():
        ffmpeg(*args, (folder / name).as_posix())
    write_jumping_sound(folder / "jumping-sound.mkv")
    return {name: folder / name for name in [*made, "jumping-sound.mkv"]}


def write_jumping_sound(path: Path, rate: int = 48000) -> Path:
    """8 frames and stereo sound: a chunk at 0 s, then one stamped 30 minutes ahead (the
    3 KB MKV of issue 19 whose sound once took 1.4 GB to carry into an MP4)."""
    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=8)
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        sound = output.add_stream("pcm_s16le", rate=rate, layout="stereo")
        for _ in range(8):
            picture = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 128, np.uint8), "rgb24")
            output.mux(video.encode(picture))
        output.mux(video.encode(None))
        for first in (0, 1800 * rate):
            chunk = av.AudioFrame.from_ndarray(
                np.full((1, 2048), 1000, np.int16), format="s16", layout="stereo"
            )
            chunk.sample_rate, chunk.pts, chunk.time_base = rate, first, Fraction(1, rate)
            output.mux(sound.encode(chunk))
        output.mux(sound.encode(None))
    return path


def make_images(folder: Path) -> dict[str, Path]:
    """One seed image per format, 48x32 (the PNG with alpha and the GIF through Pillow)."""
    y, x = np.mgrid[0:32, 0:48]
    rgb = np.stack([x * 5, y * 7, (x + y) * 3], axis=2).astype(np.uint8)
    images = {}
    for name in IMAGE_FORMATS:
        path = folder / f"seed.{name}"
        if name in ("hdr", "pfm"):  # floats
            assert cv2.imwrite(str(path), rgb[..., ::-1].astype(np.float32) / 255)
        elif name == "alpha.png":
            alpha = np.full(rgb.shape[:2] + (1,), 128, np.uint8)
            Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(path)
        elif name == "gif":
            Image.fromarray(rgb).save(path)
        elif name == "exif.jpg":  # a phone photo, stored turned: EXIF orientation 6
            exif = Image.Exif()
            exif[0x0112] = 6
            Image.fromarray(rgb).save(path, exif=exif)
        elif name == "16.png":  # 16 bits a channel
            assert cv2.imwrite(str(path), rgb[..., ::-1].astype(np.uint16) * 257)
        else:
            assert cv2.imwrite(str(path), rgb[..., ::-1])
        images[name] = path
    return images


def make_tracks(folder: Path) -> dict[str, Path]:
    """One second of a tone in each kind of track the README names (mp3, wav, m4a, ogg)."""
    tracks = {}
    for name, codec in (
        ("wav", "pcm_s16le"),
        ("m4a", "aac"),
        ("ogg", "libopus"),
        ("mp3", "libmp3lame"),
    ):
        path = folder / f"seed.{name}"
        ffmpeg(*TONE, "-c:a", codec, *BITEXACT, path.as_posix())
        tracks[name] = path
    return tracks


def make_track(path: Path) -> Path:
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1), sound.setsampwidth(2), sound.setframerate(8000)
        sound.writeframes(b"\x10\x00" * 8000)
    return path


def preset_inputs(text: str, clip: Path, image: Path, track: Path) -> list[str]:
    """What a preset's dry run needs besides the preset: an input (a clip for a video, an
    image otherwise) and a track for audio schedules."""
    argv = ["--input", str(clip if 'mode = "video"' in text else image)]
    return argv + (["--audio", str(track)] if "audio:" in text else [])


def build_cases(folder: Path) -> list[dict]:
    """Every case of the battery, in a fixed order, each with the inputs it reads."""
    cases: list[dict] = []

    def add(kind: str, id: str, what: str, **fields) -> None:
        cases.append({"index": len(cases), "kind": kind, "id": id, "what": what, **fields})

    seeds = folder / "seeds"
    seeds.mkdir()
    clips, images = make_clips(seeds), make_images(seeds)
    track = make_track(seeds / "track.wav")
    cwd = folder / "cwd"
    cwd.mkdir()
    out = ["--out", str(folder / "out")]

    for name, seed in clips.items():
        data = seed.read_bytes()
        add("clip", f"clip-{name}-seed", "unchanged", path=str(seed))
        for k in range(CLIP_CASES):
            mutated, what = mutate_bytes(data, random.Random(f"clip-{name}-{k}"))
            path = folder / "clips" / f"{k}.{name}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(mutated)
            options = RANGES[k % len(RANGES)]
            add("clip", f"clip-{name}-{k}", f"{what} {options}", path=str(path), options=options)
            add("probe", f"probe-{name}-{k}", what, path=str(path))
            if k < CLIP_DRY_RUNS:
                argv = ["render", "video-quick", "--dry-run", "--input", str(path), *out]
                add("command", f"clip-dry-run-{name}-{k}", what, argv=argv, cwd=str(cwd))

        for tag in (t for t in CODEC_TAGS if t in data):
            path = folder / "clips" / f"unknown-{tag[:5].decode().strip('_/')}.{name}"
            path.write_bytes(data.replace(tag, b"Q" * len(tag)))
            what = f"every {tag.decode()} made {'Q' * len(tag)}"
            add("clip", f"clip-{name}-unknown-{tag.decode()}", what, path=str(path))
            add("probe", f"probe-{name}-unknown-{tag.decode()}", what, path=str(path))
            argv = ["render", "video-quick", "--dry-run", "--input", str(path), *out]
            add(
                "command",
                f"clip-dry-run-{name}-unknown-{tag.decode()}",
                what,
                argv=argv,
                cwd=str(cwd),
            )

    for name, path in make_far_clips(folder / "clips").items():
        add("clip", f"clip-{name}", "a timestamp far ahead", path=str(path))
        add("probe", f"probe-{name}", "a timestamp far ahead", path=str(path))
        argv = ["render", "video-quick", "--dry-run", "--input", str(path), *out]
        add("command", f"clip-dry-run-{name}", "a timestamp far ahead", argv=argv, cwd=str(cwd))

    for name, seed in images.items():
        data = seed.read_bytes()
        add("image", f"image-{name}-seed", "unchanged", path=str(seed))
        for k in range(IMAGE_CASES):
            mutated, what = mutate_bytes(data, random.Random(f"image-{name}-{k}"))
            path = folder / "images" / f"{k}.{name}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(mutated)
            add("image", f"image-{name}-{k}", what, path=str(path))
            if k < IMAGE_DRY_RUNS:
                argv = ["render", "progress", "--dry-run", "--input", str(path), *out]
                add("command", f"image-dry-run-{name}-{k}", what, argv=argv, cwd=str(cwd))

    for preset in preset_names():
        text = resolve_preset(preset).read_text(encoding="utf-8")
        inputs = preset_inputs(text, clips["mp4"], images["png"], track)
        for k in range(PRESET_CASES):
            mutated, what = mutate_toml(text, random.Random(f"preset-{preset}-{k}"))
            path = folder / "presets" / f"{preset}-{k}.toml"
            path.parent.mkdir(exist_ok=True)
            path.write_text(mutated, encoding="utf-8")
            argv = ["render", str(path), "--dry-run", *inputs, *out]
            add("command", f"preset-{preset}-{k}", what, argv=argv, cwd=str(cwd))

    what = "the pixel data damaged, the last chunk says it is 2 GB long"
    path = png_claiming_a_huge_chunk(folder / "images", images["alpha.png"])
    add("image", "image-png-huge-chunk", what, path=str(path))

    # A folder of numbered frames, one of them mutated (or missing), as a video input.
    whole = folder / "folders" / "seed"
    whole.mkdir(parents=True)
    for n in range(4):
        shutil.copy(images["png"], whole / f"frame_{n:04d}.png")
    add("clip", "folder-seed", "unchanged", path=str(whole))
    for k in range(FOLDER_CASES):
        rng = random.Random(f"folder-{k}")
        frames = folder / "folders" / str(k)
        frames.mkdir()
        kind = ("png", "jpg", "alpha.png", "bmp")[k % 4]
        for n in range(4):
            shutil.copy(images[kind], frames / f"frame_{n:04d}.{kind.split('.')[-1]}")
        victim = sorted(frames.iterdir())[rng.randrange(4)]
        if rng.random() < 0.15:
            victim.unlink()
            what = f"{victim.name} missing"
        else:
            mutated, what = mutate_bytes(victim.read_bytes(), rng)
            victim.write_bytes(mutated)
            what = f"{victim.name}: {what}"
        add("clip", f"folder-{k}", what, path=str(frames))

    # Masks and guide images: a mutated image (or clip) where a render reads one.
    for k in range(MASK_CASES):
        rng = random.Random(f"mask-{k}")
        seed = (images["png"], images["jpg"], images["alpha.png"], clips["mp4"], clips["mkv"])[
            k % 5
        ]
        mutated, what = mutate_bytes(seed.read_bytes(), rng)
        path = folder / "masks" / f"{k}{seed.suffix}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(mutated)
        argv = ["render", "video-quick", "--dry-run", "--input", str(clips["mp4"])]
        argv += ["--set", f"mask={json.dumps(str(path))}", *out]
        add("command", f"mask-{k}", what, argv=argv, cwd=str(cwd))
    for k in range(GUIDE_CASES):
        rng = random.Random(f"guide-{k}")
        seed = (images["png"], images["jpg"], images["webp"], images["hdr"])[k % 4]
        mutated, what = mutate_bytes(seed.read_bytes(), rng)
        path = folder / "guides" / f"{k}{seed.suffix}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(mutated)
        objective = f'layer:block_13_expand_relu + guide:"{path}"'
        argv = ["render", "progress", "--dry-run", "--input", str(images["png"])]
        argv += ["--set", f"objective={json.dumps(objective)}", *out]
        add("command", f"guide-{k}", what, argv=argv, cwd=str(cwd))

    # Music tracks: decoded whole (the audio features), and through audio-zoom's dry run.
    for name, seed in make_tracks(seeds).items():
        data = seed.read_bytes()
        add("track", f"track-{name}-seed", "unchanged", path=str(seed))
        for k in range(TRACK_CASES):
            mutated, what = mutate_bytes(data, random.Random(f"track-{name}-{k}"))
            path = folder / "tracks" / f"{k}.{name}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(mutated)
            add("track", f"track-{name}-{k}", what, path=str(path))
            if k < TRACK_DRY_RUNS:
                argv = ["render", "audio-zoom", "--dry-run", "--audio", str(path), *out]
                add("command", f"track-dry-run-{name}-{k}", what, argv=argv, cwd=str(cwd))

    # Paths a file system refuses outright: a name too long for it, a NUL in a TOML path.
    long = str(folder / ("x" * 300))
    for k, argv in enumerate(
        (
            ["progress", "--input", long + ".png"],
            ["video-quick", "--input", long + ".mp4"],
            ["audio-zoom", "--audio", long + ".wav"],
            ["progress", "--input", str(images["png"]), "--set", f"objective=guide:{long}.png"],
            ["video-quick", "--input", str(clips["mp4"]), "--set", f'mask="{long}.png"'],
            ["morph", "--input", str(images["png"]), "--input", long + ".jpg"],
            ["progress", "--set", 'input="a\\u0000b.png"'],
            ["video-quick", "--set", 'input="a\\u0000b.mp4"'],
            ["audio-zoom", "--set", 'audio="a\\u0000b.wav"'],
        )
    ):
        what = shortened(" ".join(argv).replace(str(folder), "TMP"))
        argv = ["render", *argv, "--dry-run", *out]
        add("command", f"path-{k}", what, argv=argv, cwd=str(cwd))

    for k in range(SETTING_CASES):  # a known key, a hostile value, on each kind of render
        rng = random.Random(f"setting-{k}")
        preset = ("noise-zoom", "progress", "video-quick", "morph", "audio-zoom")[k % 5]
        setting, what = hostile_setting(rng)
        text = resolve_preset(preset).read_text(encoding="utf-8")
        argv = ["render", preset, "--dry-run", "--set", setting]
        argv += [*preset_inputs(text, clips["mp4"], images["png"], track), *out]
        add("command", f"setting-{k}", f"{preset}: {what}", argv=argv, cwd=str(cwd))

    jobs_folder = folder / "jobs"
    jobs_folder.mkdir()
    for name in ("a.png", "b.png"):
        shutil.copy(images["png"], jobs_folder / name)
    path = jobs_folder / "seed.toml"
    path.write_text(JOBS)
    add("command", "jobs-seed", "unchanged", argv=["batch", str(path), "--no-ray"], cwd=str(cwd))
    for k in range(JOBS_CASES):
        mutated, what = mutate_toml(JOBS, random.Random(f"jobs-{k}"))
        path = jobs_folder / f"jobs-{k}.toml"
        path.write_text(mutated, encoding="utf-8")
        argv = ["batch", str(path), "--no-ray", "--quiet"]
        add("command", f"jobs-{k}", what, argv=argv, cwd=str(cwd))

    for k in range(SCHEDULE_CASES):
        rng = random.Random(f"schedule-{k}")
        seed = SCHEDULES[k % len(SCHEDULES)]
        text, what = mutate_expression(seed, rng)
        add("schedule", f"schedule-{k}", f"{seed!r}: {what}", text=text)
        if k < SET_CASES:
            setting = f"zoom.scale={json.dumps(text)}" if k % 4 else f"zoom.scale={text}"
            argv = ["render", "noise-zoom", "--dry-run", "--set", setting, *out]
            add("command", f"set-schedule-{k}", f"{seed!r}: {what}", argv=argv, cwd=str(cwd))

    guide = folder / "cwd" / "a.png"
    shutil.copy(images["png"], guide)
    for k in range(OBJECTIVE_CASES):
        rng = random.Random(f"objective-{k}")
        seed = OBJECTIVES[k % len(OBJECTIVES)]
        text, what = mutate_expression(seed, rng, OBJECTIVE_TOKENS)
        if k % 10 == 9:  # the table form: terms and weights
            terms = [mutate_expression(seed, rng, OBJECTIVE_TOKENS)[0] for _ in range(2)]
            table = {term: rng.choice(OBJECTIVE_WEIGHTS) for term in terms}
            add("objective", f"objective-{k}", f"table {table!r}"[:200], table=table)
            continue
        add("objective", f"objective-{k}", f"{seed!r}: {what}", text=text)
        if k < SET_CASES:
            argv = ["render", "progress", "--dry-run", "--set", f"objective={json.dumps(text)}"]
            argv += ["--input", str(guide), *out]
            add("command", f"set-objective-{k}", f"{seed!r}: {what}", argv=argv, cwd=str(cwd))
    return cases


def group(case: dict) -> str:
    """The kind a case is counted under in the summary."""
    name = case["id"]
    for prefix in (
        "clip-dry-run",
        "image-dry-run",
        "track-dry-run",
        "set-schedule",
        "set-objective",
    ):
        if name.startswith(prefix):
            return prefix
    return name.split("-", 1)[0]


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    cases = build_cases(folder)
    results = run_cases(
        cases,
        folder / "run",
        case_seconds=CASE_SECONDS,
        watchdog_seconds=WATCHDOG_SECONDS,
        memory_bytes=MEMORY_BYTES,
        growth_bytes=GROWTH_BYTES,
    )
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    seconds: collections.Counter = collections.Counter()
    findings = []
    for case, result in zip(cases, results, strict=True):
        counts[group(case)][result["outcome"]] += 1
        seconds[group(case)] += result["seconds"]
        if result["outcome"] not in EXPECTED:
            findings.append({**result, "what": case["what"], "input": _input_of(case)})
    summary = {
        "cases": len(cases),
        "seconds": round(sum(r["seconds"] for r in results), 1),
        "kinds": {kind: dict(outcomes) for kind, outcomes in counts.items()},
        "kind_seconds": {kind: round(seconds[kind], 2) for kind in counts},
        "findings": findings,
        "signatures": {
            sig: [f["id"] for f in findings if signature(f) == sig]
            for sig in sorted({signature(f) for f in findings})
        },
        "results": [f"{r['id']}: {r['outcome']}: {r['detail'][:160]}" for r in results],
    }
    target = Path(os.environ.get("DREAMREEL_FUZZ_SUMMARY") or folder / "fuzz-summary.json")
    target.write_text(json.dumps(summary, indent=2))
    keep = os.environ.get("DREAMREEL_FUZZ_KEEP")
    if keep:
        _keep(cases, findings, Path(keep))
    print(f"\nfuzz battery: {len(cases)} cases in {summary['seconds']} s of case time")
    for kind, outcomes in summary["kinds"].items():
        print(
            f"  {kind}: {sum(outcomes.values())} cases in {summary['kind_seconds'][kind]} s, "
            f"{dict(sorted(outcomes.items()))}"
        )
    for sig, ids in summary["signatures"].items():
        print(f"  FINDING {sig}: {len(ids)} cases: {', '.join(ids[:6])}")
        first = next(f for f in findings if f["id"] == ids[0])
        print(f"      e.g. {first['id']} [{first['what'][:100]}]: {first['detail'][:200]}")
    return cases, results


def _input_of(case: dict) -> str:
    if "path" in case:
        return case["path"]
    if "text" in case:
        return case["text"][:300]
    if "table" in case:
        return repr(case["table"])[:300]
    return " ".join(case["argv"])[:300]


def _keep(cases: list[dict], findings: list[dict], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for finding in findings:
        case = cases[finding["index"]]
        paths = [case["path"]] if "path" in case else []
        paths += [a for a in case.get("argv", []) if a.endswith((".toml", *CONTAINERS))]
        for path in paths:
            if os.path.isfile(path):  # False, not OSError, for a name too long
                shutil.copy(path, folder / f"{case['id']}{''.join(Path(path).suffixes)}")
    (folder / "findings.json").write_text(json.dumps(findings, indent=2))


def findings_of(battery, *kinds: str) -> list[str]:
    cases, results = battery
    return [
        f"{r['id']} [{case['what'][:120]}] -> {r['outcome']}: {r['detail']}"
        for case, r in zip(cases, results, strict=True)
        if group(case) in kinds and r["outcome"] not in EXPECTED
    ]


def test_the_seeds_read_whole(battery):
    """The unchanged seeds are valid inputs: each reads to its end (the battery's floor)."""
    cases, results = battery
    seeds = {r["id"]: r for r in results if r["id"].endswith("-seed")}
    assert len(seeds) == len(CONTAINERS) + len(IMAGE_FORMATS) + 4 + 2  # tracks, folder, jobs
    for name, result in seeds.items():
        assert result["outcome"] == "ok", (name, result["detail"])
        if name.startswith("clip-") and name != "clip-gif-seed":
            assert (
                result["detail"].startswith("8 frames of 32x24") and "carried" in result["detail"]
            )


@pytest.mark.parametrize(
    "kinds",
    [
        ("clip",),
        ("probe",),
        ("clip-dry-run",),
        ("folder",),
        ("image", "image-dry-run"),
        ("mask", "guide"),
        ("track", "track-dry-run"),
        ("preset",),
        ("jobs",),
        ("path",),
    ],
    ids=[
        "clips",
        "clips-probed",
        "clips-dry-run",
        "frame-folders",
        "images",
        "masks-and-guides",
        "tracks",
        "presets",
        "jobs-files",
        "paths",
    ],
)
def test_mutated_files_end_in_a_result_or_one_line(battery, kinds):
    found = findings_of(battery, *kinds)
    assert not found, f"{len(found)} findings:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "kinds",
    [("schedule",), ("objective",), ("set-schedule", "set-objective"), ("setting",)],
    ids=["schedules", "objectives", "set-on-dry-run", "hostile-settings"],
)
def test_mutated_texts_end_in_a_result_or_one_line(battery, kinds):
    found = findings_of(battery, *kinds)
    assert not found, f"{len(found)} findings:\n" + "\n".join(found)


def test_every_kind_ran_and_some_cases_were_refused(battery):
    """The battery is not vacuous: every kind ran its cases, and in each kind of input the
    mutations reach both results and refusals."""
    cases, results = battery
    ran = collections.Counter(group(case) for case in cases)
    mutated_clips = [c for c in cases if re.fullmatch(r"clip-\w+-\d+", c["id"])]
    assert len(mutated_clips) == len(CONTAINERS) * CLIP_CASES
    assert ran["image"] == len(IMAGE_FORMATS) * (IMAGE_CASES + 1) + 1  # and the 2 GB chunk
    assert ran["schedule"] == SCHEDULE_CASES and ran["objective"] == OBJECTIVE_CASES
    assert ran["preset"] == PRESET_CASES * len(preset_names()) and ran["jobs"] == JOBS_CASES + 1
    by_kind: dict[str, set] = collections.defaultdict(set)
    for case, result in zip(cases, results, strict=True):
        by_kind[group(case)].add(result["outcome"])
    for kind in ("clip", "image", "preset", "jobs", "schedule", "objective", "track"):
        assert {"ok", "error"} <= by_kind[kind], (kind, by_kind[kind])


def test_the_runner_catches_each_way_a_case_can_go_wrong(tmp_path):
    """The battery's harness itself: a hang (the alarm's and the watchdog's), memory past
    the growth bound and past the address space, threads left running, a crash, a
    traceback, and the cases after each still run."""
    ops = ["sleep", "stop", "allocate", "exhaust", "threads", "abort", "raise", "refuse", "fine"]
    cases = [
        {"index": k, "kind": "selftest", "id": op, "op": op, "bytes": 600 << 20}
        for k, op in enumerate(ops)
    ]
    cases[3]["bytes"] = 8 << 30
    results = run_cases(
        cases,
        tmp_path,
        case_seconds=1,
        watchdog_seconds=2,
        memory_bytes=3 << 30,
        growth_bytes=256 << 20,
    )
    outcomes = {r["id"]: r["outcome"] for r in results}
    assert outcomes == {
        "sleep": "hang",
        "stop": "hang",
        "allocate": "memory",
        "exhaust": "memory",
        "threads": "leak",
        "abort": "crash",
        "raise": "traceback",
        "refuse": "error",
        "fine": "ok",
    }


# ---------------------------------------------------------------- what the battery found


@pytest.mark.parametrize("kind", ["clip", "image", "track"])
def test_a_name_too_long_for_the_file_system_is_one_line(tmp_path, kind):
    """Found by the battery (a preset's `audio` set to a long schedule text): a path
    whose name is longer than the file system takes (ENAMETOOLONG) made Path.exists()
    raise OSError, a traceback, in the reader, the image reader and the track check."""
    from renderer.media import open_video
    from renderer.media.container import open_container
    from renderer.media.images import read_image

    long = tmp_path / ("x" * 300 + {"clip": ".mp4", "image": ".png", "track": ".wav"}[kind])
    read = {"clip": open_video, "image": read_image, "track": open_container}[kind]
    with pytest.raises(DreamreelError, match="File name too long"):
        read(long)


def test_a_mask_name_too_long_for_the_file_system_is_one_line(tmp_path):
    """Found by the battery (path-4): `--set mask=<a 300-character name>` on a video
    render's dry run ended in OSError (File name too long) from the mask check."""
    from renderer.rendering.masks import check_mask
    from renderer.rendering.spec import load_spec

    spec = load_spec("video-quick", [f'mask="{tmp_path / ("x" * 300)}.png"'], input="clip.mp4")
    with pytest.raises(DreamreelError, match="cannot read mask .*File name too long"):
        check_mask(spec)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_a_clip_read_to_its_end_leaves_no_decoder_threads_behind(tmp_path):
    """Found by the battery (a BlockingIOError from the scaler, only after ~100 clips in
    one process): each clip read left its decoder, and the decoder's threads and their
    memory, alive until the garbage collector broke a reference cycle. After ~100 clips
    165 threads held 2.9 GB of address space, and under the battery's 3 GB limit a
    later scale or decode could not start its threads (EAGAIN)."""
    import gc

    from renderer.media import open_video

    clip = make_clips_of(tmp_path, "mp4")

    def threads() -> int:
        return len(list(Path("/proc/self/task").iterdir()))

    gc.collect()
    gc.disable()
    try:
        before = threads()
        for _ in range(3):
            with open_video(clip) as opened:
                assert len(list(opened.frames())) == 8
                assert len(list(opened.frames(first=4))) == 4
        assert threads() <= before
    finally:
        gc.enable()


def test_a_clip_in_a_codec_without_a_decoder_is_refused_by_the_size_check(tmp_path):
    """Found by the battery (clip-dry-run-mp4-unknown-avc1): an MP4 whose video codec
    FFmpeg does not know (every "avc1" made "QQQQ") has no codec context, and the dry
    run's size check read its width from None: an AttributeError. It is the reader's one
    line now, before TensorFlow loads (--dry-run included)."""
    from renderer.rendering.input_sizes import check_input_sizes
    from renderer.rendering.spec import load_spec

    clip = tmp_path / "unknown.mp4"
    clip.write_bytes(make_clips_of(tmp_path, "mp4").read_bytes().replace(b"avc1", b"QQQQ"))
    with pytest.raises(DreamreelError, match="in a codec this FFmpeg cannot decode"):
        check_input_sizes(load_spec("video-quick", input=str(clip)))


def png_claiming_a_huge_chunk(folder: Path, seed: Path) -> Path:
    """A 48x32 PNG (its header fine) whose pixel data is damaged and whose last chunk
    says it is 2 GB long: OpenCV's PNG reader allocates what the chunk says."""
    data = bytearray(seed.read_bytes())
    end = data.index(b"IEND") - 4
    data[end : end + 4] = (0x80000000).to_bytes(4, "big")
    data[40:44] = b"\xff" * 4  # inside the IDAT chunk
    path = folder / "huge-chunk.png"
    path.write_bytes(bytes(data))
    return path


def test_a_png_chunk_claiming_2_gb_is_refused_before_opencv_allocates_it(tmp_path):
    """Found by the battery (a wider run, 250 cases a format): a 123-byte PNG took 2 GB
    of memory to be refused, because OpenCV's reader allocates a chunk's declared length
    before it reads it. Every PNG chunk must end inside the file before OpenCV sees it."""
    case = {"index": 0, "kind": "image", "id": "huge-chunk"}
    case["path"] = str(png_claiming_a_huge_chunk(tmp_path, make_images(tmp_path)["alpha.png"]))
    (result,) = run_cases([case], tmp_path / "run", growth_bytes=256 << 20)
    assert result["outcome"] == "error", result["detail"]
    assert "damaged" in result["detail"]
