"""The recipe inside every output: frame PNGs, the GIF and the MP4 carry the render's
settings, `dreamreel render` makes the render again from any of them (or from its folder
or manifest.json), `dreamreel info` prints it, and a stranger's file ends in one line.

The outputs are read here with Pillow, PyAV and FFmpeg's own program, never with the
renderer's reader, and the renders made again are compared with the original file by file.
"""

from __future__ import annotations

import functools
import json
import shutil
import struct
import subprocess
import tomllib
import zlib
from pathlib import Path

import av
import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from helpers import frame_bytes as pixel_bytes
from PIL import Image

import renderer
from renderer.cli.main import main

TINY = [
    "width=48",
    "height=48",
    "frames=3",
    "dream.steps=1",
    "dream.octaves=1",
    "zoom.first_steps=1",
    "zoom.first_octaves=1",
    "output.gif_max_side=32",
]


def frame_bytes(out: Path) -> list[bytes]:
    """Every frame file of a render folder, whole: pixels and recipe chunk alike."""
    return [p.read_bytes() for p in sorted((Path(out) / "frames").glob("*.png"))]


def set_args(items, *more: str) -> list[str]:
    return [arg for item in [*items, *more] for arg in ("--set", item)]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dreamreel: error:"), err
    return lines[0]


@pytest.fixture(scope="module")
def original(tmp_path_factory, embedded_cache):
    """A tiny noise zoom with a drawn seed (seed = -1), rendered by the CLI."""
    out = tmp_path_factory.mktemp("recipe") / "original"
    code = main(["render", "noise-zoom", *set_args(TINY, "seed=-1"), "--out", str(out), "--quiet"])
    assert code == 0
    return out


def drawn_seed(out: Path) -> int:
    seed = json.loads((out / "manifest.json").read_text())["spec"]["seed"]
    assert isinstance(seed, int) and seed >= 0
    return seed


# ---------------------------------------------------------------- other programs read it


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk of a PNG, walked by hand."""
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def without_chunk(data: bytes, kind: bytes, keyword: bytes) -> bytes:
    """The PNG with its ``kind`` chunks under ``keyword`` cut out, byte for byte."""
    out, at = bytearray(data[:8]), 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunk = data[at : at + 12 + length]
        if not (chunk[4:8] == kind and chunk[8:].startswith(keyword + b"\0")):
            out += chunk
        at += 12 + length
    return bytes(out)


def test_every_output_carries_the_recipe_as_other_programs_read_it(original):
    seed = drawn_seed(original)
    frames = sorted((original / "frames").glob("*.png"))
    texts = [Image.open(p).text["dreamreel"] for p in frames]
    with Image.open(original / "zoom.gif") as gif:
        texts.append(gif.info["comment"].decode("utf-8"))
    with av.open(str(original / "zoom.mp4")) as mp4:
        texts.append(mp4.metadata["comment"])
    shown = subprocess.run(  # FFmpeg's own program, as ffprobe shows a file's tags
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(original / "zoom.mp4")]
        + ["-f", "ffmetadata", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "comment=\\# dreamreel recipe" in shown and f"seed \\= {seed}\\" in shown
    assert len(texts) == 5 and len(set(texts)) == 1  # the same recipe everywhere
    recipe = texts[0]
    assert recipe.startswith("# dreamreel recipe")
    assert f"# seed: {seed}\n" in recipe and "# model: mobilenet_v2_dogs\n" in recipe
    assert f"# version: dreamreel {renderer.__version__}" in recipe
    table = tomllib.loads(recipe)
    assert (table["mode"], table["seed"], table["frames"], table["width"]) == ("zoom", seed, 3, 48)
    assert str(original) not in recipe  # nothing of this run's own: no output folder


def test_the_recipe_chunk_leaves_the_pixels_bytes_as_they_were(original):
    """The frame is OpenCV's PNG of its pixels, byte for byte, plus one iTXt chunk right
    after the header: what PNG readers that know no recipe read is unchanged."""
    path = original / "frames" / "000002.png"
    data = path.read_bytes()
    kinds = [kind for kind, _ in png_chunks(data)]
    assert kinds[:2] == [b"IHDR", b"iTXt"] and kinds.count(b"iTXt") == 1
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert without_chunk(data, b"iTXt", b"dreamreel") == cv2.imencode(".png", pixels)[1].tobytes()


# ---------------------------------------------------------------- made again from itself


def remuxed_mov(original: Path, folder: Path) -> Path:
    """The MP4 copied into a QuickTime .mov by FFmpeg (its tags go where QuickTime's do)."""
    mov = folder / "zoom.mov"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(original / "zoom.mp4")]
        + ["-c", "copy", "-map_metadata", "0", str(mov)],
        check=True,
    )
    return mov


def stitched_mkv(original: Path, folder: Path) -> Path:
    """The render stitched again as FFV1 in an MKV (dreamreel stitch --set output.codec)."""
    copy = folder / "copy"
    shutil.copytree(original, copy)
    assert main(["stitch", str(copy), "--set", "output.codec=ffv1"]) == 0
    return copy / "zoom.mkv"


SOURCES = {
    "frame": lambda out, tmp: out / "frames" / "000002.png",
    "gif": lambda out, tmp: out / "zoom.gif",
    "mp4": lambda out, tmp: out / "zoom.mp4",
    "mov": lambda out, tmp: remuxed_mov(out, tmp),
    "folder": lambda out, tmp: out,
    "manifest": lambda out, tmp: out / "manifest.json",
}


@pytest.mark.parametrize("source", SOURCES)
def test_a_render_is_made_again_from_each_of_its_outputs_alone(original, source, tmp_path):
    """Byte-identical frame files, recipe chunk included, the drawn seed kept."""
    given = SOURCES[source](original, tmp_path)
    again = tmp_path / "again"
    if source == "folder":  # from Python: renderer.render takes the same sources
        renderer.render(str(given), out=again)
    else:
        assert main(["render", str(given), "--out", str(again), "--quiet"]) == 0
    assert frame_bytes(again) == frame_bytes(original)
    with av.open(str(again / "zoom.mp4")) as mp4, av.open(str(original / "zoom.mp4")) as first:
        assert mp4.metadata["comment"] == first.metadata["comment"]


def test_an_mkv_stitched_in_another_codec_makes_the_render_again_in_that_codec(original, tmp_path):
    """FFV1 in MKV (stitch --set output.codec=ffv1) carries the recipe with its encoding:
    the same pictures, encoded as that file was."""
    mkv = stitched_mkv(original, tmp_path)
    again = tmp_path / "again"
    assert main(["render", str(mkv), "--out", str(again), "--quiet"]) == 0
    assert pixel_bytes(again) == pixel_bytes(original)  # the pixels; the recipes differ
    with av.open(str(again / "zoom.mkv")) as made, av.open(str(mkv)) as given:
        assert made.streams.video[0].codec_context.name == "ffv1"
        assert made.metadata["COMMENT"] == given.metadata["COMMENT"]  # Matroska's spelling


def test_settings_given_on_top_of_a_recipe_change_the_render_and_its_folder(
    original, tmp_path, capsys
):
    frame = str(original / "frames" / "000002.png")
    changed = tmp_path / "changed"
    code = main(["render", frame, "--set", "zoom.scale=1.2", "--out", str(changed), "--quiet"])
    assert code == 0
    assert Image.open(changed / "frames" / "000003.png").text["dreamreel"].count("scale = 1.2")
    for name in ("000002.png", "000003.png"):  # frame 1 is not zoomed yet
        pixels, first = (cv2.imread(str(out / "frames" / name)) for out in (changed, original))
        assert np.abs(pixels.astype(int) - first).mean() > 1, name
    # Without --out: the recipe's own folder (its preset's name kept), another one on top.
    _, same, _ = run_cli(capsys, "render", frame, "--dry-run")
    _, other, _ = run_cli(capsys, "render", frame, "--dry-run", "--set", "zoom.scale=1.2")
    _, first, _ = run_cli(
        capsys,
        "render",
        "noise-zoom",
        *set_args(TINY, f"seed={drawn_seed(original)}"),
        "--dry-run",
    )
    folder = first.splitlines()[0].split(" (")[0]
    assert folder.startswith("# output: renders/noise-zoom-noise-")
    assert same.splitlines()[0].split(" (")[0] == folder
    assert other.splitlines()[0].split(" (")[0] != folder


def test_info_prints_the_recipe_that_the_originals_dry_run_prints(original, capsys):
    seed = drawn_seed(original)
    code, info, err = run_cli(capsys, "info", str(original / "zoom.gif"))
    assert code == 0, err
    assert info.startswith("# dreamreel recipe") and f"\n# seed: {seed}\n" in info
    _, dry_run, _ = run_cli(capsys, "render", "noise-zoom", *set_args(TINY), "--dry-run")
    expected = tomllib.loads(dry_run)
    expected["seed"] = seed  # the one seed = -1 drew
    del expected["pipeline"]  # when work runs, not what it makes: no part of a recipe
    assert tomllib.loads(info) == expected


def test_info_answers_without_loading_tensorflow(original, tmp_path):
    from helpers import run_without_tensorflow_probe

    probe, out, err = run_without_tensorflow_probe("info", str(original), cwd=tmp_path)
    assert probe == {"code": 0, "tensorflow": False, "keras": False}, err
    assert out.startswith("# dreamreel recipe")


def test_stitch_writes_the_recipe_the_render_wrote(original, tmp_path):
    copy = shutil.copytree(original, tmp_path / "copy")
    for name in ("zoom.mp4", "zoom.gif"):
        (copy / name).unlink()
    assert main(["stitch", str(copy)]) == 0
    with av.open(str(copy / "zoom.mp4")) as mp4, av.open(str(original / "zoom.mp4")) as first:
        assert mp4.metadata["comment"] == first.metadata["comment"]
    with Image.open(copy / "zoom.gif") as gif, Image.open(original / "zoom.gif") as first_gif:
        assert gif.info["comment"] == first_gif.info["comment"]


def test_a_resumed_render_writes_the_frames_an_uninterrupted_one_wrote(original, tmp_path):
    spec = renderer.rendering.spec.load_spec("noise-zoom", [*TINY, f"seed={drawn_seed(original)}"])

    def stop_after_two(done, total, loss):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        renderer.render(spec, out=tmp_path, progress=stop_after_two)
    assert len(frame_bytes(tmp_path)) == 2
    assert renderer.render(spec, out=tmp_path).rendered == 1  # read back: frames 1 and 2
    assert frame_bytes(tmp_path) == frame_bytes(original)


# ---------------------------------------------------------------- an input, given relatively


def test_an_input_given_relatively_is_found_from_elsewhere_or_asked_for(
    embedded_cache, samples_dir, tmp_path, monkeypatch, capsys
):
    (tmp_path / "work").mkdir()
    shutil.copy(samples_dir / "chelsea.jpg", tmp_path / "work" / "photo.jpg")
    monkeypatch.chdir(tmp_path / "work")
    settings = set_args(TINY, "frames=2")
    assert main(["render", "noise-zoom", "-i", "photo.jpg", *settings, "-o", "../first"]) == 0
    frame = tmp_path / "first" / "frames" / "000002.png"
    monkeypatch.chdir(tmp_path)
    assert main(["render", str(frame), "--out", "again", "--quiet"]) == 0
    assert frame_bytes(tmp_path / "again") == frame_bytes(tmp_path / "first")
    capsys.readouterr()

    (tmp_path / "work" / "photo.jpg").rename(tmp_path / "moved.jpg")
    line = one_line_error(*run_cli(capsys, "render", str(frame), "--dry-run")[::2])
    assert str(tmp_path / "work" / "photo.jpg") in line and "--input PATH" in line
    code, out, err = run_cli(capsys, "render", str(frame), "-i", "moved.jpg", "--dry-run")
    assert code == 0 and f'input = "{tmp_path / "moved.jpg"}"' in out, err


# ---------------------------------------------------------------- a stranger's file


def chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_with(*chunks: bytes) -> bytes:
    """A 1x1 PNG with ``chunks`` after its header."""
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    pixels = chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
    return b"\x89PNG\r\n\x1a\n" + header + b"".join(chunks) + pixels + chunk(b"IEND", b"")


def itxt(text: str, keyword: bytes = b"dreamreel") -> bytes:
    return chunk(b"iTXt", keyword + b"\0\x01\x00\0\0" + zlib.compress(text.encode()))


def another_programs_png(path: Path) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, pnginfo=_a1111_text())


def _a1111_text():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a cat, Steps: 20, Sampler: Euler a, Seed: 1")
    return info


@functools.cache
def packed_bomb() -> bytes:
    return zlib.compress(b"#" * (64 << 20), 9)


def write_hostile(name: str, folder: Path, original: Path) -> Path:
    path = folder / name
    frame = (original / "frames" / "000001.png").read_bytes()
    recipe_chunk = next(data for kind, data in png_chunks(frame) if kind == b"iTXt")
    at = frame.index(recipe_chunk)
    if name == "another-program.png":
        another_programs_png(path)
    elif name == "another-program.gif":
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, comment=b"made with GIMP")
    elif name == "bomb.png":  # 64 MB of text packed into 64 KB, under our keyword
        path.write_bytes(png_with(chunk(b"zTXt", b"dreamreel\0\0" + packed_bomb())))
    elif name == "huge.png":  # a text chunk claiming 2 GB
        path.write_bytes(png_with(struct.pack(">I", 2**31 - 1) + b"tEXtdreamreel\0"))
    elif name == "truncated.png":  # cut in the middle of the recipe chunk
        path.write_bytes(frame[: at + len(recipe_chunk) // 2])
    elif name == "bad-crc.png":  # the recipe whole, its chunk's CRC not
        damaged = bytearray(frame)
        damaged[at + len(recipe_chunk) + 1] ^= 0x01
        path.write_bytes(bytes(damaged))
    elif name == "not-toml.png":
        path.write_bytes(png_with(itxt("# dreamreel recipe\nmode = = zoom\n")))
    elif name == "loop.png":
        path.symlink_to(path)
    elif name == "empty-folder":
        path.mkdir()
    return path


HOSTILE = {
    "another-program.png": "carries no dreamreel recipe",
    "another-program.gif": "carries no dreamreel recipe",
    "bomb.png": "over 1 MB",
    "huge.png": "over 1 MB",
    "truncated.png": "damaged",
    "bad-crc.png": "damaged",
    "not-toml.png": "(at line 2, column",  # tomllib's own reason, where it stopped
    "loop.png": "loop of links",
    "empty-folder": "render folder",
}


@pytest.mark.parametrize("command", ["info", "render"])
@pytest.mark.parametrize("name", HOSTILE)
def test_a_file_without_a_usable_recipe_ends_in_one_line(original, name, command, tmp_path, capsys):
    path = write_hostile(name, tmp_path, original)
    argv = [command, str(path)] + (["--out", str(tmp_path / "out")] if command == "render" else [])
    line = one_line_error(*run_cli(capsys, *argv)[::2])
    assert HOSTILE[name] in line
    assert not (tmp_path / "out").exists()


def test_a_packed_text_bomb_is_never_unpacked_whole(original, tmp_path, capsys):
    """64 MB of text packed into 64 KB: refused having unpacked no more than 1 MB."""
    import tracemalloc

    bomb = write_hostile("bomb.png", tmp_path, original)
    tracemalloc.start()
    try:
        code, _, err = run_cli(capsys, "info", str(bomb))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "over 1 MB" in one_line_error(code, err)
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MB held while reading a 64 KB file"


def test_a_recipe_may_not_load_a_model_file_by_itself(original, tmp_path, capsys):
    text = Image.open(original / "frames" / "000001.png").text["dreamreel"]
    evil = tmp_path / "evil.keras"
    evil.write_bytes(b"PK not a model")  # never opened: refused before anything loads
    planted = text.replace('model = "mobilenet_v2_dogs"', f'model = "{evil}"')
    assert planted != text
    (tmp_path / "shared.png").write_bytes(png_with(itxt(planted)))
    code, _, err = run_cli(capsys, "render", str(tmp_path / "shared.png"), "--dry-run")
    line = one_line_error(code, err)
    assert f"model file {evil}" in line and f"--set model={evil}" in line
    code, out, err = run_cli(
        capsys, "render", str(tmp_path / "shared.png"), "--set", f"model={evil}", "--dry-run"
    )
    assert code == 0 and f'model = "{evil}"' in out, err
