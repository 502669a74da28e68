"""`dreamreel stability` pairs a render's frames with the source frames they were dreamed
from (by time: the render's start, every and rate from its manifest), so its figures are
the render's own report.json; a video whose timing cannot say is refused."""

from __future__ import annotations

import json
import shutil

import pytest
from helpers import write_clip
from test_edge_cases import TINY_VIDEO, moving_frames

import renderer
from renderer.cli.main import main as cli_main
from renderer.rendering.spec import load_spec

NUMBERS = ("dream_strength", "e_warp_output", "e_warp_input", "added_flicker")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", moving_frames(20, 64, 96), 8)


@pytest.fixture(scope="module")
def every_2(embedded_cache, clip, tmp_path_factory):
    """every = 2 (video-quick's) from 0.5 s: frames 4, 6, ..., 18 of the clip."""
    out = tmp_path_factory.mktemp("every-2")
    renderer.render(
        load_spec(
            "progress",
            [
                *TINY_VIDEO,
                "video.every=2",
                "video.start=0.5",
                "flow.preset=fast",
                "dream.step_size=0.2",
            ],
            input=str(clip),
        ),
        out=out,
    )
    return out


def cli_report(capsys, tmp_path, *args):
    assert cli_main(["stability", *map(str, args), "--json", str(tmp_path / "r.json")]) == 0
    line = capsys.readouterr().out.strip()
    return line, json.loads((tmp_path / "r.json").read_text())


def test_a_render_folder_measures_what_its_report_says(every_2, clip, capsys, tmp_path):
    own = json.loads((every_2 / "report.json").read_text())
    line, report = cli_report(capsys, tmp_path, every_2, "--source", clip)
    assert report["frames"] == own["frames"] == 8 and report["fps"] == pytest.approx(4)
    for key in NUMBERS:
        assert report[key] == pytest.approx(own[key], rel=1e-9, abs=1e-12), key
    assert line.startswith("stability (8 frames")
    # Without --source: the render's own input, recorded absolute in its manifest.
    _, again = cli_report(capsys, tmp_path, every_2)
    assert [again[k] for k in NUMBERS] == [report[k] for k in NUMBERS]


def test_its_mp4_pairs_by_time_too(every_2, clip, capsys, tmp_path):
    own = json.loads((every_2 / "report.json").read_text())
    _, report = cli_report(capsys, tmp_path, every_2 / "video.mp4", "--source", clip)
    assert report["frames"] == 8
    # From the compressed MP4: near the PNGs' figures (paired by index it was ~80x); H.264
    # smooths a held dream's fine detail (measured 1.17x here).
    assert report["dream_strength"] == pytest.approx(own["dream_strength"], rel=0.25)
    assert report["e_warp_output"] == pytest.approx(own["e_warp_output"], rel=0.5, abs=1e-4)


def test_the_mp4_out_of_its_folder_is_refused_in_one_line(every_2, clip, capsys, tmp_path):
    bare = tmp_path / "loose.mp4"
    shutil.copy(every_2 / "video.mp4", bare)
    assert cli_main(["stability", str(bare), "--source", str(clip)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dreamreel: error: cannot pair the frames of") and "\n" not in err
    assert "measure the render folder" in err


def test_another_clip_than_the_renders_is_refused(every_2, capsys, tmp_path):
    other = write_clip(tmp_path / "other.mp4", moving_frames(20, 64, 96), 12)
    assert cli_main(["stability", str(every_2), "--source", str(other)]) == 2
    err = capsys.readouterr().err
    assert "gives 6 fps over the render's range" in err and "pass the clip it was made" in err


def test_a_render_that_is_no_video_is_refused(tmp_path, capsys):
    from test_stitch import render_folder

    render_folder(tmp_path, 2)
    assert cli_main(["stability", str(tmp_path), "--source", str(tmp_path / "x.mp4")]) == 2
    assert "holds a zoom render" in capsys.readouterr().err


def test_a_loose_video_without_source_is_one_line(tmp_path, capsys):
    """--source may be left out for a render folder (its manifest names the input), not
    for a video outside one."""
    assert cli_main(["stability", str(tmp_path / "out.mp4")]) == 2
    err = capsys.readouterr().err
    assert "not inside a render folder: give the clip it was made from with --source" in err


def test_without_a_json_path_stdout_is_the_json_alone(every_2, capsys):
    assert cli_main(["stability", str(every_2)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)  # nothing but the document
    assert report["frames"] > 1 and "E_warp" in err
