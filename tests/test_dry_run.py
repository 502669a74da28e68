"""`dreamreel render --dry-run`: the fully resolved spec as TOML that render reads back."""

from __future__ import annotations

import math
import tomllib

import pytest

from renderer.cli.main import main
from renderer.rendering.preset_files import preset_names, resolve_preset
from renderer.rendering.spec import load_spec
from renderer.rendering.spec_toml import dumps


def dry_run(capsys, *argv: str) -> str:
    code = main(["render", *argv, "--dry-run"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


OVERRIDES = [
    [],
    [
        "--set",
        "model=mobilenet_v2_dogs",
        "--set",
        "interpolation=smooth",
        "--set",
        'dream.steps="0:(4), 10:(8.5)"',
        "--set",
        'layers={block_12_expand_relu="0:(1), 24:(0)", block_13_expand_relu=0.25}',
        "--set",
        "seed=7",
        "--set",
        "fps=12.5",
    ],
    ["--seed", "3", "--size", "96x64", "--set", "output.gif=false"],
]


@pytest.mark.parametrize("overrides", OVERRIDES, ids=["plain", "schedules", "shorthands"])
@pytest.mark.parametrize("preset", preset_names())
def test_dry_run_reads_back_as_the_same_text_and_spec(
    tmp_path, capsys, monkeypatch, preset, overrides
):
    monkeypatch.chdir(tmp_path)
    if tomllib.loads(resolve_preset(preset).read_text())["mode"] == "video":
        clip = tmp_path / 'my "clip" ü.mp4'  # a name to escape; a dry run opens no clip
        clip.write_bytes(b"not decoded by a dry run")
    else:  # an image mode reads the image's header: a real (tiny) PNG
        import cv2
        import numpy as np

        clip = tmp_path / 'my "photo" ü.png'
        assert cv2.imwrite(str(clip), np.full((64, 64, 3), 128, np.uint8))
    argv = [preset, "--input", str(clip), *overrides]
    track = {}
    if "audio:" in resolve_preset(preset).read_text():  # audio-reactive: it needs a track
        import wave

        with wave.open(str(tmp_path / "track.wav"), "wb") as sound:
            sound.setnchannels(1), sound.setsampwidth(2), sound.setframerate(8000)
            sound.writeframes(b"\x10\x00" * 8000)
        track = {"audio": str(tmp_path / "track.wav")}
        argv += ["--audio", track["audio"]]
    first = dry_run(capsys, *argv)
    (tmp_path / "again.toml").write_text(first, encoding="utf-8")
    # The same text but its first line: where output goes (a file of another name there)
    assert (
        dry_run(capsys, str(tmp_path / "again.toml")).split("\n", 1)[1] == first.split("\n", 1)[1]
    )

    original = load_spec(preset, [o for o in overrides[1::2] if "=" in o], input=str(clip), **track)
    again = load_spec(str(tmp_path / "again.toml"))
    if "--seed" not in overrides:  # (the shorthands are compared in test_cli_habits)
        assert again.to_dict() | {"name": preset} == original.to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["again.toml", clip.name, *(["track.wav"] if track else [])]
    )


def test_dry_run_prints_every_key_its_mode_reads_and_unset_ones_as_comments(capsys, tmp_path):
    text = dry_run(capsys, "noise-zoom")
    table = tomllib.loads(text)
    assert set(table) >= {"mode", "model", "frames", "fps", "seed", "dream", "output", "zoom"}
    assert not set(table) & {"video", "flow", "progress", "morph"}  # other modes' tables
    assert table["dream"]["tile_margin"] == 64  # a default no preset sets
    assert "name" not in table  # read back, the name is the file's
    assert "# width: unset" not in text and "# input: unset (dream from noise)" in text
    (tmp_path / "clip.mp4").write_bytes(b"not decoded by a dry run")
    video = dry_run(capsys, "video-quick", "--input", str(tmp_path / "clip.mp4"))
    video = video.split("\n[video]\n", 1)[1].split("\n[", 1)[0]
    assert "# start: unset\n" in video and "every = 2\n" in video  # video-quick's


def test_dry_run_says_where_the_render_goes_and_what_it_finds(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = dry_run(capsys, "noise-zoom", "-o", "out").splitlines()[0]
    assert first == "# output: out (a new render)"
    (tmp_path / "out" / "frames").mkdir(parents=True)
    (tmp_path / "out" / "frames" / "000001.png").write_bytes(b"a frame")
    (tmp_path / "out" / "losses.csv").write_text(
        "frame,final_loss,octave_losses,seconds\n1,1.0,1.0,0.5\n"
    )
    found = dry_run(capsys, "noise-zoom", "-o", "out").splitlines()[0]
    assert found == "# output: out (holds 1 frame: resumed if they are this render's)"
    default = dry_run(capsys, "noise-zoom").splitlines()[0]
    assert default.startswith("# output: renders/noise-zoom-noise-")


def test_dry_run_loads_no_tensorflow_and_writes_nothing(tmp_path):
    from helpers import run_without_tensorflow_probe

    result, out, err = run_without_tensorflow_probe(
        "render", "video-quick", "--input", "clip.mp4", "--dry-run", cwd=tmp_path
    )
    assert result["code"] == 2 and "clip.mp4" in err  # still checks the input exists
    (tmp_path / "clip.mp4").write_bytes(b"x")
    result, out, err = run_without_tensorflow_probe(
        "render", "video-quick", "--input", "clip.mp4", "--dry-run", cwd=tmp_path
    )
    assert result == {"code": 0, "tensorflow": False, "keras": False}, err
    assert tomllib.loads(out)["video"]["every"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


@pytest.mark.parametrize(
    "value", [0.1, 1e-300, 1e16, -2.5e-8, 123456789.123, 5e-324, math.inf, -math.inf, 1.0, -0.0]
)
def test_floats_round_trip_exactly(value):
    assert tomllib.loads(dumps({"x": value}))["x"] == value


def test_strings_and_keys_are_escaped():
    nasty = 'a "quote", a \\ back\\slash, tab\t, newline\n, bell\x07, del\x7f, ü €'
    table = {"s": nasty, "t": {"odd/key name": nasty, "n": {"deep": [1, 2.5, "x"]}}}
    assert tomllib.loads(dumps(table)) == table


def test_i_is_short_for_input(capsys, tmp_path, samples_dir):
    text = dry_run(capsys, "progress", "-i", str(samples_dir / "coffee.jpg"))
    assert tomllib.loads(text)["input"] == str(samples_dir / "coffee.jpg")


def test_a_count_is_written_as_an_integer_and_reads_back_the_same(capsys, tmp_path):
    text = dry_run(capsys, "noise-zoom", "--set", "dream.steps=7")
    assert "\n[dream]\nsteps = 7\n" in text  # not 7.0: the engine takes whole steps
    assert "\nfps = 12.0\n" in text  # a float setting stays a float
    (tmp_path / "again.toml").write_text(text)
    again = load_spec(str(tmp_path / "again.toml"))
    assert (
        again.to_dict() | {"name": "noise-zoom"}
        == load_spec("noise-zoom", ["dream.steps=7"]).to_dict()
    )
