"""Behaviour of renderer.frame_store and renderer.loss_plot: resume, guards, the loss log."""

import json

import numpy as np
import pytest

from renderer.errors import DreamreelError
from renderer.frame_store import FrameStore, done_frame_count
from renderer.loss_plot import loss_plot
from renderer.manifest import spec_hash
from renderer.media.images import read_image

H, W = 32, 48


def make_manifest(**changes):
    spec = {"mode": "zoom", "fps": 8.0, "seed": 0,
            "dream": {"steps": 20, "octaves": 3},
            "zoom": {"scale": 1.05, "angle": 0.0},
            "output": {"gif": True, "mp4": True}}
    for dotted, value in changes.items():
        table = spec
        *parents, leaf = dotted.split(".")
        for key in parents:
            table = table[key]
        table[leaf] = value
    return {"spec": spec, "spec_hash": spec_hash(spec), "model": {"name": "test"}}


def solid(index):
    return np.full((H, W, 3), (index * 40 % 256, 100, 200), np.uint8)


def write_frames(store, count, start=0):
    for i in range(start, start + count):
        store.write_frame(i, solid(i), octave_losses=[0.5 + i, 1.25 + i], final_loss=2.0 + i,
                          seconds=0.1 * (i + 1), zoom=1.05, steps=20)


def test_written_frames_resume_after_reopen(tmp_path):
    store = FrameStore(tmp_path, make_manifest())
    assert store.done_count() == 0
    write_frames(store, 3)

    again = FrameStore(tmp_path, make_manifest())
    assert again.done_count() == 3
    assert done_frame_count(tmp_path) == 3
    assert [p.name for p in again.frame_paths()] == ["000001.png", "000002.png", "000003.png"]
    assert again.frame_path(0) == tmp_path / "frames" / "000001.png"
    rows = again.rows()
    assert [r["frame"] for r in rows] == [1, 2, 3]  # the file numbers
    assert rows[1]["final_loss"] == pytest.approx(3.0)
    assert rows[1]["octave_losses"] == pytest.approx([1.5, 2.25])
    assert rows[2]["seconds"] == pytest.approx(0.3)
    assert rows[0]["zoom"] == pytest.approx(1.05) and rows[0]["steps"] == 20
    np.testing.assert_array_equal(again.read_frame(2), solid(2))

    header = (tmp_path / "losses.csv").read_text().splitlines()[0]
    assert header == "frame,final_loss,octave_losses,seconds,steps,zoom"
    assert (tmp_path / "losses.csv").read_text().splitlines()[1].startswith(
        "1,2.000000,0.500000 1.250000,0.100,")
    assert json.loads((tmp_path / "manifest.json").read_text())["spec_hash"] == \
        make_manifest()["spec_hash"]


def test_rows_stay_sorted_and_rewrite_replaces(tmp_path):
    store = FrameStore(tmp_path, make_manifest())
    write_frames(store, 1, start=2)
    write_frames(store, 2, start=0)
    store.write_frame(1, solid(9), octave_losses=[7.0], final_loss=7.0, seconds=1.0)
    rows = FrameStore(tmp_path, make_manifest()).rows()
    assert [r["frame"] for r in rows] == [1, 2, 3]
    assert rows[1]["final_loss"] == 7.0 and "zoom" not in rows[1]  # empty extra -> absent


def test_png_without_row_and_row_without_png_are_not_done(tmp_path):
    store = FrameStore(tmp_path, make_manifest())
    write_frames(store, 4)
    (tmp_path / "frames" / "000003.png").unlink()  # row without PNG
    assert FrameStore(tmp_path, make_manifest()).done_count() == 2

    store = FrameStore(tmp_path, make_manifest(), restart=True)
    write_frames(store, 2)
    # A kill between the PNG and the CSV row: PNG 3 exists, its row does not.
    store.frame_path(2).write_bytes(store.frame_path(0).read_bytes())
    assert FrameStore(tmp_path, make_manifest()).done_count() == 2


@pytest.mark.parametrize("garbage", [
    "",
    "frame,final_loss,octave_losses,seconds\n1,0.5,0.5 0.6,0.1\n2,0.7,0.7",  # truncated row
    "frame,final_loss,octave_losses,seconds\n1,zzz,0.5,0.1\n",
    "\x00\xff\xfe binary junk \x89PNG",
    "loss,frame\n1,2\n",
])
def test_garbled_losses_csv_reads_as_no_rows(tmp_path, garbage):
    store = FrameStore(tmp_path, make_manifest())
    write_frames(store, 2)
    (tmp_path / "losses.csv").write_bytes(garbage.encode("latin-1"))

    reopened = FrameStore(tmp_path, make_manifest())
    assert reopened.done_count() == 0
    assert reopened.rows() == []
    write_frames(reopened, 1)  # and the log heals on the next write
    assert FrameStore(tmp_path, make_manifest()).done_count() == 1


def test_changed_spec_is_refused_naming_the_changes(tmp_path):
    write_frames(FrameStore(tmp_path, make_manifest()), 2)
    changed = make_manifest(**{"dream.steps": 30, "zoom.scale": 1.1})
    with pytest.raises(DreamreelError) as info:
        FrameStore(tmp_path, changed)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path} holds frames of a different render")
    assert "dream.steps 20 -> 30" in message and "zoom.scale 1.05 -> 1.1" in message
    assert "--restart" in message and "--out" in message
    assert FrameStore(tmp_path, make_manifest()).done_count() == 2  # nothing was touched


def test_many_changes_are_cut_short(tmp_path):
    write_frames(FrameStore(tmp_path, make_manifest()), 1)
    changed = make_manifest(**{"dream.steps": 1, "dream.octaves": 1, "zoom.scale": 2.0,
                               "zoom.angle": 3.0, "fps": 1.0, "seed": 5, "mode": "video"})
    with pytest.raises(DreamreelError, match=r"\.\.\.\); add --restart"):
        FrameStore(tmp_path, changed)


def test_restart_clears_our_files_only(tmp_path):
    store = FrameStore(tmp_path, make_manifest())
    write_frames(store, 3)
    store.write_loss_plot()
    (tmp_path / "frames" / "notes.txt").write_text("mine")
    (tmp_path / "zoom.mp4").write_bytes(b"keep")

    fresh = FrameStore(tmp_path, make_manifest(**{"dream.steps": 30}), restart=True)
    assert fresh.done_count() == 0 and fresh.rows() == []
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["notes.txt"]
    assert not (tmp_path / "losses.csv").exists() and not (tmp_path / "losses.png").exists()
    assert (tmp_path / "zoom.mp4").exists()
    saved = json.loads((tmp_path / "manifest.json").read_text())
    assert saved["spec"]["dream"]["steps"] == 30


def test_manifest_without_frames_is_simply_replaced(tmp_path):
    FrameStore(tmp_path, make_manifest())  # e.g. killed before the first frame
    store = FrameStore(tmp_path, make_manifest(**{"dream.steps": 30}))
    assert json.loads((tmp_path / "manifest.json").read_text())["spec"]["dream"]["steps"] == 30
    assert store.done_count() == 0


def test_frames_without_manifest_are_protected(tmp_path):
    write_frames(FrameStore(tmp_path, make_manifest()), 1)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(DreamreelError, match="no manifest.json"):
        FrameStore(tmp_path, make_manifest())
    (tmp_path / "manifest.json").write_text("{ broken")
    with pytest.raises(DreamreelError, match="unreadable manifest.json"):
        FrameStore(tmp_path, make_manifest())
    assert FrameStore(tmp_path, make_manifest(), restart=True).done_count() == 0


def test_litter_is_swept_and_manifest_updates(tmp_path):
    (tmp_path / "frames").mkdir()
    litter = [tmp_path / "frames" / ".000001.png.ab12cd34.partial",
              tmp_path / ".losses.csv.deadbeef.partial"]
    for path in litter:
        path.write_bytes(b"half")
    store = FrameStore(tmp_path, make_manifest())
    assert not any(path.exists() for path in litter)

    assert store.previous_manifest is None
    store.update_manifest(frames=3, seconds=1.5)
    saved = json.loads((tmp_path / "manifest.json").read_text())
    assert saved["frames"] == 3 and saved["seconds"] == 1.5
    assert saved["spec_hash"] == make_manifest()["spec_hash"]
    # Reopening rewrites manifest.json from the new manifest; the old one stays readable.
    reopened = FrameStore(tmp_path, make_manifest())
    assert reopened.previous_manifest["seconds"] == 1.5
    assert "seconds" not in json.loads((tmp_path / "manifest.json").read_text())


def test_out_dir_that_is_a_file_is_one_line_error(tmp_path):
    target = tmp_path / "render"
    target.write_text("x")
    with pytest.raises(DreamreelError, match="is a file"):
        FrameStore(target, make_manifest())


# ---------------------------------------------------------------- loss plot


def test_loss_plot_written_with_given_size(tmp_path):
    store = FrameStore(tmp_path, make_manifest())
    assert store.write_loss_plot() is None  # nothing to plot yet
    write_frames(store, 5)
    path = store.write_loss_plot(width=400, height=200)
    image = read_image(path)
    assert image.shape == (200, 400, 3)
    assert (image != 255).any(axis=2).sum() > 500  # axes, labels and the line were drawn


@pytest.mark.parametrize("values", [[1.5], [2.0] * 7, [], [1.0, float("nan"), 3.0],
                                    list(np.linspace(-5, 1e4, 300))])
def test_loss_plot_edge_cases(values):
    image = loss_plot(values, width=320, height=160)
    assert image.shape == (160, 320, 3) and image.dtype == np.uint8
    assert (image != 255).any()


def test_loss_plot_draws_the_line_where_the_values_are():
    image = loss_plot([0.0, 10.0], width=300, height=200, title="")
    blue = (image[:, :, 2] > 150) & (image[:, :, 0] < 120)
    ys, xs = np.nonzero(blue)
    left_half, right_half = ys[xs < xs.mean()], ys[xs > xs.mean()]
    assert left_half.mean() > right_half.mean()  # rising loss: the line goes up (smaller y)
