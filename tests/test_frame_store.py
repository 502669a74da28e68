"""Behaviour of renderer.store.frame_store and renderer.imaging.loss_plot: resume, guards,
the loss log."""

import json

import numpy as np
import pytest

from renderer.imaging.loss_plot import loss_plot
from renderer.media.images import read_image
from renderer.runtime.errors import DreamreelError
from renderer.store.frame_store import FrameStore, done_frame_count
from renderer.store.manifest import spec_hash

H, W = 32, 48
COLUMNS = ("steps", "zoom")  # the extras write_frames fills


def make_manifest(**changes):
    spec = {
        "mode": "zoom",
        "fps": 8.0,
        "seed": 0,
        "dream": {"steps": 20, "octaves": 3},
        "zoom": {"scale": 1.05, "angle": 0.0},
        "output": {"gif": True, "mp4": True},
    }
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
        store.write_frame(
            i,
            solid(i),
            octave_losses=[0.5 + i, 1.25 + i],
            final_loss=2.0 + i,
            seconds=0.1 * (i + 1),
            zoom=1.05,
            steps=20,
        )


def test_written_frames_resume_after_reopen(tmp_path):
    store = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    assert store.done_count() == 0
    write_frames(store, 3)

    again = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
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
    assert (
        (tmp_path / "losses.csv")
        .read_text()
        .splitlines()[1]
        .startswith("1,2.000000,0.500000 1.250000,0.100,")
    )
    assert (
        json.loads((tmp_path / "manifest.json").read_text())["spec_hash"]
        == make_manifest()["spec_hash"]
    )


def test_rows_stay_sorted_and_rewrite_replaces(tmp_path):
    store = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    write_frames(store, 1, start=2)
    write_frames(store, 2, start=0)
    store.write_frame(1, solid(9), octave_losses=[7.0], final_loss=7.0, seconds=1.0)
    rows = FrameStore(tmp_path, make_manifest(), columns=COLUMNS).rows()
    assert [r["frame"] for r in rows] == [1, 2, 3]
    assert rows[1]["final_loss"] == 7.0 and "zoom" not in rows[1]  # empty extra -> absent


def test_png_without_row_and_row_without_png_are_not_done(tmp_path):
    store = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    write_frames(store, 4)
    (tmp_path / "frames" / "000003.png").unlink()  # row without PNG
    assert FrameStore(tmp_path, make_manifest(), columns=COLUMNS).done_count() == 2

    store = FrameStore(tmp_path, make_manifest(), restart=True, columns=COLUMNS)
    write_frames(store, 2)
    # A kill between the PNG and the CSV row: PNG 3 exists, its row does not.
    store.frame_path(2).write_bytes(store.frame_path(0).read_bytes())
    assert FrameStore(tmp_path, make_manifest(), columns=COLUMNS).done_count() == 2


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        # (a truncated LAST row is a torn append, dropped alone: see test_torn_last_line_...)
        "frame,final_loss,octave_losses,seconds\n1,0.5,0.5 0.6,0.1\n2,0.7,0.7\n3,0.8,0.8,0.3\n",
        "frame,final_loss,octave_losses,seconds\n1,zzz,0.5,0.1\n",
        "\x00\xff\xfe binary junk \x89PNG",
        "loss,frame\n1,2\n",
    ],
)
def test_garbled_losses_csv_reads_as_no_rows(tmp_path, garbage):
    store = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    write_frames(store, 2)
    (tmp_path / "losses.csv").write_bytes(garbage.encode("latin-1"))

    reopened = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    assert reopened.done_count() == 0
    assert reopened.rows() == []
    write_frames(reopened, 1)  # and the log heals on the next write
    assert FrameStore(tmp_path, make_manifest(), columns=COLUMNS).done_count() == 1


def test_changed_spec_is_refused_naming_the_changes(tmp_path):
    write_frames(FrameStore(tmp_path, make_manifest(), columns=COLUMNS), 2)
    changed = make_manifest(**{"dream.steps": 30, "zoom.scale": 1.1})
    with pytest.raises(DreamreelError) as info:
        FrameStore(tmp_path, changed)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path} holds frames of a different render")
    assert "dream.steps 20 -> 30" in message and "zoom.scale 1.05 -> 1.1" in message
    assert "--restart" in message and "--out" in message
    # what --restart would delete, so the user decides knowing it
    assert "it deletes 2 frames (frames/000001.png to frames/000002.png)" in message
    # nothing was touched
    assert FrameStore(tmp_path, make_manifest(), columns=COLUMNS).done_count() == 2


def test_many_changes_are_cut_short(tmp_path):
    write_frames(FrameStore(tmp_path, make_manifest(), columns=COLUMNS), 1)
    changed = make_manifest(
        **{
            "dream.steps": 1,
            "dream.octaves": 1,
            "zoom.scale": 2.0,
            "zoom.angle": 3.0,
            "fps": 1.0,
            "seed": 5,
            "mode": "video",
        }
    )
    with pytest.raises(DreamreelError, match=r"\.\.\.\); add --restart"):
        FrameStore(tmp_path, changed)


def test_restart_clears_our_files_only(tmp_path):
    store = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
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
    FrameStore(tmp_path, make_manifest(), columns=COLUMNS)  # e.g. killed before the first frame
    store = FrameStore(tmp_path, make_manifest(**{"dream.steps": 30}))
    assert json.loads((tmp_path / "manifest.json").read_text())["spec"]["dream"]["steps"] == 30
    assert store.done_count() == 0


def test_frames_without_manifest_are_protected(tmp_path):
    write_frames(FrameStore(tmp_path, make_manifest(), columns=COLUMNS), 1)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(DreamreelError, match=r"no manifest.json.*it deletes 1 frame \(frames/"):
        FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    (tmp_path / "manifest.json").write_text("{ broken")
    with pytest.raises(DreamreelError, match="unreadable manifest.json"):
        FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    assert FrameStore(tmp_path, make_manifest(), restart=True, columns=COLUMNS).done_count() == 0


def test_litter_is_swept_and_manifest_updates(tmp_path):
    (tmp_path / "frames").mkdir()
    litter = [
        tmp_path / "frames" / ".000001.png.ab12cd34.partial",
        tmp_path / ".losses.csv.deadbeef.partial",
    ]
    for path in litter:
        path.write_bytes(b"half")
    store = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    assert not any(path.exists() for path in litter)

    assert store.previous_manifest is None
    store.update_manifest(frames=3, seconds=1.5)
    saved = json.loads((tmp_path / "manifest.json").read_text())
    assert saved["frames"] == 3 and saved["seconds"] == 1.5
    assert saved["spec_hash"] == make_manifest()["spec_hash"]
    # Reopening rewrites manifest.json from the new manifest; the old one stays readable.
    reopened = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    assert reopened.previous_manifest["seconds"] == 1.5
    assert "seconds" not in json.loads((tmp_path / "manifest.json").read_text())


def test_out_dir_that_is_a_file_is_one_line_error(tmp_path):
    target = tmp_path / "render"
    target.write_text("x")
    with pytest.raises(DreamreelError, match="is a file"):
        FrameStore(target, make_manifest())


# ---------------------------------------------------------------- appending log, checkpoints


def open_store(tmp_path, **kwargs):
    return FrameStore(tmp_path, make_manifest(), **{"columns": COLUMNS, **kwargs})


def log_bytes(tmp_path):
    return (tmp_path / "losses.csv").read_bytes()


def test_rows_are_appended_never_rewritten(tmp_path):
    store = open_store(tmp_path)
    write_frames(store, 1)
    csv_inode = (tmp_path / "losses.csv").stat().st_ino
    sizes, before = [], log_bytes(tmp_path)
    for i in range(1, 5):
        write_frames(store, 1, start=i)
        now = log_bytes(tmp_path)
        assert now.startswith(before) and now.endswith(b"\n")  # earlier bytes unchanged
        assert now.count(b"\n") == before.count(b"\n") + 1  # exactly one line more
        sizes.append(len(now))
        before = now
    assert sizes == sorted(sizes)
    assert (tmp_path / "losses.csv").stat().st_ino == csv_inode  # same file, not replaced
    assert log_bytes(tmp_path).count(b"frame,") == 1  # the header once
    assert open_store(tmp_path).done_count() == 5
    assert log_bytes(tmp_path) == before  # a clean resume leaves the log as it is


def test_columns_are_declared_up_front(tmp_path):
    store = open_store(tmp_path)
    with pytest.raises(ValueError, match="rotation"):
        store.write_frame(
            0, solid(0), octave_losses=[1.0], final_loss=1.0, seconds=0.1, rotation=0.5
        )
    assert not store.frame_path(0).exists()  # refused before anything was written
    with pytest.raises(ValueError, match="line breaks"):
        store.write_frame(
            0, solid(0), octave_losses=[1.0], final_loss=1.0, seconds=0.1, zoom="1\n2"
        )
    assert not store.frame_path(0).exists() and not (tmp_path / "losses.csv").exists()
    store.write_frame(0, solid(0), octave_losses=[1.0], final_loss=1.0, seconds=0.1, zoom=2)
    assert log_bytes(tmp_path).decode().splitlines()[1] == "1,1.000000,1.000000,0.100,,2"
    for bad in (["frame"], ["a", "a"], [""], "zoom"):
        with pytest.raises(ValueError):
            FrameStore(tmp_path / "other", make_manifest(), columns=bad)


@pytest.mark.parametrize(
    "torn",
    [
        b"4,5.0",  # a kill mid-append: no newline
        b"4,5.000000,3.500000 4.250000,0.4",  # every field but the last, cut short
        b"\x00\x00\x00\x00",  # a block the filesystem zero-filled after power loss
        b"4,5.0\n",  # too few fields, though the newline made it to disk
        b"4,zzz,1.0,0.4,20,1.05\n",  # unparseable last line
    ],
)
def test_torn_last_line_is_dropped_and_cut_on_resume(tmp_path, torn):
    write_frames(open_store(tmp_path), 4)
    good = log_bytes(tmp_path)
    cut = good[: good.rstrip(b"\n").rfind(b"\n") + 1]  # without frame 4's row
    (tmp_path / "losses.csv").write_bytes(cut + torn)

    assert done_frame_count(tmp_path) == 3  # read only: the torn line is just not counted
    assert log_bytes(tmp_path) == cut + torn
    store = open_store(tmp_path)
    assert store.done_count() == 3  # PNG 4 exists, its row never fully did: not done
    assert [r["frame"] for r in store.rows()] == [1, 2, 3]
    assert log_bytes(tmp_path) == cut  # truncated back to the last good line
    write_frames(store, 1, start=3)
    assert log_bytes(tmp_path) == good  # the next append starts on a clean line
    assert open_store(tmp_path).done_count() == 4


@pytest.mark.parametrize(
    "damage",
    [
        lambda lines: lines[:2] + [b"2,zzz,1.0,0.2,20,1.05"] + lines[3:],  # unparseable
        lambda lines: lines[:2] + [b"2,3.0"] + lines[3:],  # short
        lambda lines: lines[:2] + [b"0,3.0,1.5,0.2,20,1.05"] + lines[3:],  # frame 0
        lambda lines: lines[:2] + [b"2,3.0,1.5,0.2,20,1.05,extra"] + lines[3:],  # too long
        lambda lines: lines[:2] + [b"\xff\xfe,3.0,1.5,0.2,20,1.05"] + lines[3:],  # not UTF-8
    ],
)
def test_damaged_middle_line_resumes_nothing(tmp_path, damage):
    write_frames(open_store(tmp_path), 4)
    lines = log_bytes(tmp_path).split(b"\n")
    (tmp_path / "losses.csv").write_bytes(b"\n".join(damage(lines)))

    assert done_frame_count(tmp_path) == 0
    store = open_store(tmp_path)
    assert store.done_count() == 0 and store.rows() == []
    write_frames(store, 2)  # and a fresh log replaces it
    text = log_bytes(tmp_path).decode()
    assert text.splitlines()[0] == "frame,final_loss,octave_losses,seconds,steps,zoom"
    assert [line.split(",")[0] for line in text.splitlines()[1:]] == ["1", "2"]


def test_rows_of_frames_to_render_again_are_cut_on_open(tmp_path):
    store = open_store(tmp_path)
    write_frames(store, 5)
    (tmp_path / "frames" / "000003.png").unlink()  # frames 3.. will be rendered again
    store = open_store(tmp_path)
    assert store.done_count() == 2
    assert [r["frame"] for r in store.rows()] == [1, 2]
    assert len(log_bytes(tmp_path).splitlines()) == 3  # header and frames 1, 2
    store.write_frame(2, solid(30), octave_losses=[9.0], final_loss=9.0, seconds=1.0, steps=7)
    rows = open_store(tmp_path).rows()  # PNGs 4 and 5 are back in, with no rows
    assert [r["frame"] for r in rows] == [1, 2, 3] and rows[2]["final_loss"] == 9.0
    assert log_bytes(tmp_path).decode().count("\n3,") == 1  # one row for frame 3, no stale one


def test_frame_written_again_later_wins(tmp_path):
    store = open_store(tmp_path)
    write_frames(store, 4)
    store.write_frame(1, solid(9), octave_losses=[7.0], final_loss=7.0, seconds=1.0)
    assert store.rows()[1]["final_loss"] == 7.0
    assert read_loss_rows_of(tmp_path)[2]["final_loss"] == 7.0  # the later row, read only
    reopened = open_store(tmp_path)
    assert reopened.done_count() == 4
    assert [r["final_loss"] for r in reopened.rows()] == [2.0, 7.0, 4.0, 5.0]
    lines = log_bytes(tmp_path).decode().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4"]  # tidied once
    assert read_loss_rows_of(tmp_path)[2]["final_loss"] == 7.0  # ... keeping the later row
    assert open_store(tmp_path).rows()[1]["final_loss"] == 7.0


def test_rows_written_out_of_order_are_sorted_on_open(tmp_path):
    store = open_store(tmp_path)
    for i in (0, 2, 1, 3):
        write_frames(store, 1, start=i)
    (tmp_path / "frames" / "000004.png").unlink()
    reopened = open_store(tmp_path)
    assert reopened.done_count() == 3
    lines = log_bytes(tmp_path).decode().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3"]
    assert open_store(tmp_path).done_count() == 3


def read_loss_rows_of(tmp_path):
    from renderer.store.loss_log import read_loss_rows

    return read_loss_rows(tmp_path / "losses.csv")


def test_header_with_other_columns_is_migrated_once(tmp_path):
    write_frames(open_store(tmp_path), 3)
    wider = ("steps", "zoom", "rotation")
    store = open_store(tmp_path, columns=wider)
    text = log_bytes(tmp_path).decode()
    assert text.splitlines()[0] == "frame,final_loss,octave_losses,seconds,steps,zoom,rotation"
    assert text.splitlines()[1].endswith(",20,1.05,")  # old rows kept, the new column empty
    assert store.done_count() == 3 and store.rows()[0]["zoom"] == pytest.approx(1.05)
    store.write_frame(
        3, solid(3), octave_losses=[1.0], final_loss=1.0, seconds=0.1, rotation=0.25, steps=20
    )
    migrated = log_bytes(tmp_path)
    assert migrated.decode().splitlines()[4] == "4,1.000000,1.000000,0.100,20,,0.25"
    again = open_store(tmp_path, columns=wider)  # same columns: nothing rewritten
    assert log_bytes(tmp_path) == migrated
    assert again.done_count() == 4 and again.rows()[3]["rotation"] == 0.25

    narrower = open_store(tmp_path, columns=("zoom",))  # a column no longer logged goes
    assert (
        log_bytes(tmp_path).decode().splitlines()[0]
        == "frame,final_loss,octave_losses,seconds,zoom"
    )
    assert narrower.done_count() == 4 and "steps" not in narrower.rows()[0]


def test_checkpoints_round_trip_and_only_the_latest_is_kept(tmp_path):
    store = open_store(tmp_path)
    assert store.read_checkpoint(0) is None
    states = [
        {"image": np.full((4, 6, 3), i / 3, np.float32), "step": np.array(i)} for i in range(3)
    ]
    for i, state in enumerate(states):
        store.write_frame(
            i, solid(i), octave_losses=[1.0], final_loss=1.0, seconds=0.1, checkpoint=state
        )
        assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [f"{i + 1:06d}.npz"]
    saved = store.read_checkpoint(2)
    assert sorted(saved) == ["image", "step"] and saved["image"].dtype == np.float32
    np.testing.assert_array_equal(saved["image"], states[2]["image"])
    assert int(saved["step"]) == 2
    assert store.read_checkpoint(1) is None  # deleted once frame 3's row was durable

    reopened = open_store(tmp_path)
    assert reopened.done_count() == 3
    np.testing.assert_array_equal(reopened.read_checkpoint(2)["image"], states[2]["image"])

    store.checkpoint_path(2).write_bytes(b"PK\x03\x04 torn zip")
    assert open_store(tmp_path).read_checkpoint(2) is None  # unreadable counts as absent
    with pytest.raises(ValueError):
        store.write_frame(
            3,
            solid(3),
            octave_losses=[1.0],
            final_loss=1.0,
            seconds=0.1,
            checkpoint={"x": np.array([object()])},
        )

    open_store(tmp_path, restart=True)
    assert not any((tmp_path / "checkpoints").glob("*.npz"))


def test_kill_between_png_checkpoint_and_row_never_counts_the_frame(tmp_path, monkeypatch):
    store = open_store(tmp_path)
    for i in range(2):
        store.write_frame(
            i,
            solid(i),
            octave_losses=[1.0],
            final_loss=1.0,
            seconds=0.1,
            checkpoint={"x": np.array([i])},
        )

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for a kill after the PNG and checkpoint

    monkeypatch.setattr(store, "_append", killed)
    with pytest.raises(KeyboardInterrupt):
        store.write_frame(
            2,
            solid(2),
            octave_losses=[1.0],
            final_loss=1.0,
            seconds=0.1,
            checkpoint={"x": np.array([2])},
        )
    assert store.frame_path(2).exists() and store.checkpoint_path(2).exists()
    assert store.checkpoint_path(1).exists()  # still needed: frame 3 is not done

    assert done_frame_count(tmp_path) == 2
    resumed = open_store(tmp_path)
    assert resumed.done_count() == 2  # the PNG without a row is rendered again
    assert resumed.read_checkpoint(1)["x"].tolist() == [1]  # resume from frame 2's state
    assert not store.checkpoint_path(2).exists()  # frame 3's is stale: removed on open


def test_rewind_forgets_later_frames_and_appends_after(tmp_path):
    store = open_store(tmp_path)
    write_frames(store, 5)
    store.rewind(9)  # nothing to forget
    assert store.done_count() == 5
    store.rewind(2)
    assert store.done_count() == 2 and [r["frame"] for r in store.rows()] == [1, 2]
    assert [line.split(",")[0] for line in log_bytes(tmp_path).decode().splitlines()] == [
        "frame",
        "1",
        "2",
    ]
    assert open_store(tmp_path).done_count() == 2  # PNGs 3-5 remain, without rows
    write_frames(store, 1, start=2)
    assert open_store(tmp_path).done_count() == 3


def test_failed_append_leaves_no_half_line(tmp_path, monkeypatch):
    import os as real_os

    store = open_store(tmp_path)
    write_frames(store, 2)
    before = log_bytes(tmp_path)
    real_write = real_os.write

    def half_then_full_disk(fd, data):
        monkeypatch.setattr("renderer.store.frame_store.os.write", failing)
        return real_write(fd, bytes(data[:5]))

    def failing(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("renderer.store.frame_store.os.write", half_then_full_disk)
    with pytest.raises(DreamreelError, match="No space left"):
        write_frames(store, 1, start=2)
    monkeypatch.undo()
    assert log_bytes(tmp_path) == before  # the 5 bytes that made it were taken back
    write_frames(store, 1, start=2)
    assert open_store(tmp_path).done_count() == 3


# ---------------------------------------------------------------- loss plot


def test_loss_plot_written_with_given_size(tmp_path):
    store = FrameStore(tmp_path, make_manifest(), columns=COLUMNS)
    assert store.write_loss_plot() is None  # nothing to plot yet
    write_frames(store, 5)
    path = store.write_loss_plot(width=400, height=200)
    image = read_image(path)
    assert image.shape == (200, 400, 3)
    assert (image != 255).any(axis=2).sum() > 500  # axes, labels and the line were drawn


@pytest.mark.parametrize(
    "values", [[1.5], [2.0] * 7, [], [1.0, float("nan"), 3.0], list(np.linspace(-5, 1e4, 300))]
)
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


def test_loss_plot_labels_both_axes(monkeypatch):
    import renderer.imaging.loss_plot as plot_module

    values = [1.0, 1.26, 1.5, 1.9, 2.37]
    labelled = loss_plot(values, width=640, height=320)
    monkeypatch.setattr(plot_module, "X_LABEL", "")
    monkeypatch.setattr(plot_module, "Y_LABEL", "")
    bare = loss_plot(values, width=640, height=320)
    rows, cols = np.nonzero((labelled != bare).any(axis=2))
    y_label = cols < 40
    x_label = ~y_label
    assert y_label.any() and x_label.any()
    assert 100 < rows[y_label].mean() < 220  # "loss": at the left edge, halfway up
    assert (cols[y_label].max() - cols[y_label].min()) < (rows[y_label].max() - rows[y_label].min())
    assert rows[x_label].min() > 280 and 260 < cols[x_label].mean() < 400  # "frame": below


def test_loss_plot_axis_ends_carry_values():
    image = loss_plot([1.03, 1.5, 2.37], width=640, height=320, title="")
    dark = (image < 100).all(axis=2)
    axis_col = int(np.argmax(dark.sum(axis=0)))  # the y axis: the longest dark column
    axis_row = int(np.argmax(dark.sum(axis=1)))  # the x axis: the longest dark row
    top = int(np.flatnonzero(dark[:, axis_col]).min())
    for end in (top, axis_row):  # a tick mark and a value at each end of the loss axis
        assert dark[end, axis_col - 3]
        assert dark[end - 5 : end + 6, : axis_col - 5].any()
    x_axis = axis_col + np.flatnonzero(dark[axis_row, axis_col:])  # not the "1.0" left of it
    for end in (x_axis.min(), x_axis.max()):  # first and last frame: a tick and a number
        assert dark[axis_row + 3, end - 1 : end + 2].any()
        assert dark[axis_row + 6 : axis_row + 25, end - 6 : end + 7].any()
