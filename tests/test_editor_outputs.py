"""Outputs for video editors (issue 21 item 2): output.codec, .pixel_format, .crf, .preset;
`dreamreel stitch OUT --set output.*` re-encoding without dreaming; stale outputs removed.

Each codec is read back by two decoders: PyAV (codec, profile, pixel format, frame count)
and FFmpeg's own command-line tool (imageio-ffmpeg's binary: its stream line and a
framemd5 of every decoded frame)."""

import json
import subprocess

import av
import numpy as np
import pytest

from renderer.cli.main import main
from renderer.media import codecs
from renderer.media.writer import write_mp4
from renderer.rendering.default_out import default_out
from renderer.rendering.spec import load_spec
from renderer.rendering.stitch import stitch_from_manifest
from renderer.runtime.errors import DreamreelError
from renderer.store.frame_store import FrameStore
from renderer.store.manifest import spec_hash


def gradient16(height: int, width: int) -> np.ndarray:
    """A smooth 16-bit ramp, left to right (4096 levels across 1024 columns at most)."""
    ramp = np.linspace(0, 65535, width).round().astype(np.uint16)
    return np.repeat(np.repeat(ramp[None, :, None], height, axis=0), 3, axis=2)


def ffmpeg_reads(path) -> tuple[str, int]:
    """FFmpeg's own reading: its video stream line and the frames it decodes."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    info = subprocess.run([exe, "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    stream = next(line for line in info.stderr.splitlines() if "Video:" in line)
    decoded = subprocess.run(
        [exe, "-v", "error", "-i", str(path), "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    frames = [line for line in decoded.stdout.splitlines() if line and not line.startswith("#")]
    return stream, len(frames)


# codec, pixel format, size, PyAV's profile, decoded pix_fmt, FFmpeg's words, container, tag
CASES = [
    ("h264", "auto", (48, 64), "High", "yuv420p", "h264 (High)", ".mp4", "avc1"),
    ("h264", "yuv422p10le", (48, 64), "High 4:2:2", "yuv422p10le", "High 4:2:2", ".mp4", "avc1"),
    ("hevc", "yuv420p10le", (48, 64), "Main 10", "yuv420p10le", "hevc (Main 10)", ".mp4", "hvc1"),
    ("av1", "yuv420p10le", (64, 64), "Main", "yuv420p10le", "av1", ".mp4", "av01"),
    ("prores", "auto", (48, 64), "HQ", "yuv422p10le", "prores (HQ)", ".mov", "apch"),
    # FFmpeg's ProRes decoder gives 4444 as 12-bit; the stream is ProRes 4444 (ap4h)
    ("prores4444", "auto", (48, 64), "4444", "yuv444p12le", "prores (4444)", ".mov", "ap4h"),
    ("prores4444", "yuva444p10le", (48, 64), "4444", "yuva444p12le", "(4444)", ".mov", "ap4h"),
    ("dnxhr", "auto", (120, 256), "DNXHR HQ", "yuv422p", "dnxhd (DNXHR HQ)", ".mov", "AVdh"),
    ("dnxhr", "yuv422p10le", (120, 256), "DNXHR HQX", "yuv422p10le", "(DNXHR HQX)", ".mov", "AVdh"),
    ("ffv1", "yuv444p16le", (48, 64), None, "yuv444p16le", "ffv1", ".mkv", None),
]


@pytest.mark.parametrize(
    "codec, pixel_format, size, profile, pix_fmt, ffmpeg_words, suffix, tag",
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_each_codec_is_read_back_with_its_profile_and_depth(
    tmp_path, codec, pixel_format, size, profile, pix_fmt, ffmpeg_words, suffix, tag
):
    assert codecs.CODECS[codec].suffix == suffix
    path = tmp_path / f"zoom{suffix}"
    frames = [gradient16(*size)] * 3
    assert write_mp4(path, frames, 8, codec=codec, pixel_format=pixel_format, comment="r") == 3
    with av.open(str(path)) as video:
        stream = video.streams.video[0]
        decoded = list(video.decode(stream))
        context = stream.codec_context
        assert context.profile == profile
        assert (context.codec_tag.strip("\x00") or None) == tag
        assert decoded[0].format.name == pix_fmt
        assert (decoded[0].height, decoded[0].width) == size
    assert len(decoded) == 3
    stream_line, count = ffmpeg_reads(path)
    assert ffmpeg_words in stream_line and pix_fmt in stream_line
    assert count == 3


def distinct_levels(path) -> int:
    with av.open(str(path)) as video:
        frame = next(video.decode(video=0))
        return len(np.unique(frame.to_ndarray(format="rgb48le")[..., 1]))


@pytest.mark.parametrize("codec, pixel_format", [("hevc", "yuv420p10le"), ("prores", "auto")])
def test_ten_bit_encodes_keep_more_than_256_levels(tmp_path, codec, pixel_format):
    frame = gradient16(16, 1024)
    ten = tmp_path / f"ten{codecs.CODECS[codec].suffix}"
    write_mp4(ten, [frame] * 2, 8, codec=codec, pixel_format=pixel_format, crf=0)
    eight = tmp_path / "eight.mp4"
    write_mp4(eight, [frame] * 2, 8, crf=0)  # h264 yuv420p: the control
    assert distinct_levels(eight) <= 256
    assert distinct_levels(ten) > 256


def test_codec_settings_are_checked_in_one_line():
    assert load_spec("noise-zoom", ["output.codec=prores"]).output.codec == "prores"
    refusals = {
        "output.codec=xvid": "output.codec must be one of h264, hevc",
        "output.pixel_format=yuv420p": "not one prores takes: yuv422p10le",
        "output.crf=99": "output.crf must be from 0 to 51",
        "output.preset=fastest": "output.preset must be one of",
    }
    for override, words in refusals.items():
        with pytest.raises(DreamreelError, match=words):
            load_spec(
                "noise-zoom",
                ["output.codec=prores", override] if "pixel" in override else [override],
            )


def test_a_codec_the_ffmpeg_lacks_is_one_line_naming_what_it_has(monkeypatch, tmp_path):
    monkeypatch.setattr(codecs, "available_encoders", lambda: {"libx264", "prores_ks"})
    with pytest.raises(DreamreelError, match="lacks; it can encode h264, prores, prores4444$"):
        write_mp4(tmp_path / "x.mp4", [gradient16(8, 8)], 8, codec="hevc")
    assert not list(tmp_path.iterdir())


def test_dnxhr_below_its_smallest_size_is_one_line(tmp_path):
    with pytest.raises(DreamreelError, match="dnxhr encodes frames of at least 256x120"):
        write_mp4(tmp_path / "x.mov", [gradient16(48, 64)], 8, codec="dnxhr")
    assert not list(tmp_path.iterdir())


def test_encoding_settings_change_neither_identity_nor_folder():
    plain = load_spec("noise-zoom")
    prores = load_spec(
        "noise-zoom",
        ["output.codec=prores4444", "output.pixel_format=yuva444p10le", "output.crf=3"],
    )
    assert default_out(prores) == default_out(plain)


def render_folder(tmp_path, count=3):
    spec = {"mode": "zoom", "fps": 8.0, "output": {"gif": True, "mp4": True, "hold_last": 0.0}}
    store = FrameStore(tmp_path, {"spec": spec, "spec_hash": spec_hash(spec)})
    for i in range(count):
        image = np.full((32, 48, 3), (40 * i, 255 - 40 * i, 90), np.uint8)
        store.write_frame(i, image, octave_losses=[1.0], final_loss=1.0, seconds=0.1)
    return tmp_path


def frame_bytes(folder):
    return [p.read_bytes() for p in sorted((folder / "frames").iterdir())]


def test_stitch_set_reencodes_without_dreaming_and_removes_stale_outputs(tmp_path, capsys):
    folder = render_folder(tmp_path)
    assert stitch_from_manifest(folder) == [folder / "zoom.mp4", folder / "zoom.gif"]
    frames = frame_bytes(folder)
    argv = ["stitch", str(folder), "--set", "output.codec=prores", "--set", "output.gif=false"]
    assert main(argv) == 0
    assert "zoom.mov" in capsys.readouterr().out
    assert not (folder / "zoom.mp4").exists() and not (folder / "zoom.gif").exists()
    with av.open(str(folder / "zoom.mov")) as video:
        assert video.streams.video[0].codec_context.profile == "HQ"
        assert len(list(video.decode(video=0))) == 3
    output = json.loads((folder / "manifest.json").read_text())["spec"]["output"]
    assert output["codec"] == "prores" and output["gif"] is False
    assert frame_bytes(folder) == frames  # stored frames untouched: nothing dreamed
    # Stitching again follows the recorded settings; back to the default: .mov goes.
    assert stitch_from_manifest(folder) == [folder / "zoom.mov"]
    assert main(["stitch", str(folder), "--set", "output.codec=h264"]) == 0
    assert (folder / "zoom.mp4").is_file() and not (folder / "zoom.mov").exists()


def test_stitch_set_of_a_frame_changing_key_is_one_line(tmp_path, capsys):
    folder = render_folder(tmp_path)
    for key in ("dream.steps=3", "output=1", "seed=4"):
        assert main(["stitch", str(folder), "--set", key]) != 0
        err = capsys.readouterr().err.strip()
        assert "stitch re-encodes; output.* only" in err and "render again" in err
        assert "\n" not in err and "Traceback" not in err
    assert (
        main(
            [
                "stitch",
                str(folder),
                "--set",
                "output.codec=prores",
                "--set",
                "output.pixel_format=yuv420p",
            ]
        )
        != 0
    )
    assert "not one prores takes" in capsys.readouterr().err
    assert not (folder / "zoom.mp4").exists() and not (folder / "zoom.mov").exists()
    assert json.loads((folder / "manifest.json").read_text())["spec"]["output"]["gif"] is True


def test_stale_removal_never_follows_a_link(tmp_path):
    folder = render_folder(tmp_path / "out")
    precious = tmp_path / "precious.gif"
    precious.write_bytes(b"keep me")
    (folder / "zoom.gif").symlink_to(precious)
    (folder / "zoom.mov").write_bytes(b"an old stitch")
    assert main(["stitch", str(folder), "--set", "output.gif=false"]) == 0
    assert (folder / "zoom.gif").is_symlink() and precious.read_bytes() == b"keep me"
    assert not (folder / "zoom.mov").exists()  # a stale file of our own name goes
    assert (folder / "zoom.mp4").is_file()
