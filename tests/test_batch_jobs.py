"""`dreamreel batch JOBS.toml` (issue 12, item 1): the jobs file, its grids and its
mistakes. Nothing here renders or loads TensorFlow."""

from __future__ import annotations

from pathlib import Path

import pytest

from renderer.cli.main import main
from renderer.distributed.batch_jobs import check_jobs, read_jobs
from renderer.distributed.batch_run import JobOutcome, summary_rows
from renderer.runtime.errors import DreamreelError


def write(folder: Path, text: str, name: str = "jobs.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_grid_expands_to_one_job_per_combination_named_after_what_varies(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    (tmp_path / "b.png").write_bytes(b"x")
    jobs = read_jobs(
        write(
            tmp_path,
            """
        out = "renders"
        set = ["width=64"]
        [[job]]
        name = "zoom"
        preset = "noise-zoom"
        input = ["a.png", "b.png"]
        seed = [1, 2]
        set = ["frames=3"]
        [[job]]
        preset = "progress"
    """,
        )
    )
    assert [j.name for j in jobs] == [
        "zoom-a-seed1",
        "zoom-a-seed2",
        "zoom-b-seed1",
        "zoom-b-seed2",
        "progress",
    ]
    first = jobs[0]
    assert first.preset == "noise-zoom" and first.input == str(tmp_path / "a.png")
    # The batch's sets, then the job's, then the grid's seed: later ones win, like --set.
    assert first.sets == ("width=64", "frames=3", "seed=1")
    assert first.out == tmp_path / "renders" / "zoom-a-seed1"
    assert jobs[-1].sets == ("width=64",) and jobs[-1].input is None


def test_a_preset_grid_and_a_set_table(tmp_path):
    (tmp_path / "mine.toml").write_text('mode = "zoom"\n')
    jobs = read_jobs(
        write(
            tmp_path,
            """
        [[job]]
        preset = ["noise-zoom", "mine.toml"]
        set = { frames = 4, dream.steps = 2, objective = "layer:block_13_expand_relu" }
    """,
        ),
        out=tmp_path / "elsewhere",
    )
    assert [j.name for j in jobs] == ["noise-zoom", "mine"]
    assert jobs[1].preset == str(tmp_path / "mine.toml")  # relative to the jobs file
    assert jobs[0].sets == ("frames=4", "dream.steps=2", 'objective="layer:block_13_expand_relu"')
    assert jobs[0].out == tmp_path / "elsewhere" / "noise-zoom"  # --out wins


def test_without_out_jobs_go_under_renders_named_after_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    jobs = read_jobs(
        write(
            tmp_path,
            '[[job]]\npreset = "noise-zoom"\nout = "here"\n[[job]]\npreset = "progress"\n',
            name="night.toml",
        )
    )
    assert jobs[0].out == tmp_path / "here"  # a single job's out is its own folder
    assert jobs[1].out == tmp_path / "renders" / "night" / "progress"


def test_outs_may_be_urls_kept_as_they_are(tmp_path):
    jobs = read_jobs(
        write(
            tmp_path,
            'out = "s3://bucket/night"\n'
            '[[job]]\npreset = "noise-zoom"\nseed = [1, 2]\n'
            '[[job]]\npreset = "progress"\nout = "gs://b/p/"\n'
            '[[job]]\npreset = "noise-zoom"\nout = "mine"\n',
        )
    )
    assert [str(job.out) for job in jobs] == [
        "s3://bucket/night/noise-zoom-seed1",
        "s3://bucket/night/noise-zoom-seed2",
        "gs://b/p",
        str(tmp_path / "mine"),
    ]
    assert jobs[0].out.name == "noise-zoom-seed1"


@pytest.mark.parametrize(
    "text, words",
    [
        (
            '[[job]]\npreset = "noise-zoom"\nseeds = [1, 2]\n',
            ["jobs.toml: job 1: unknown key 'seeds'", "did you mean seed?"],
        ),
        ('[[job]]\nname = "a"\nseed = 1\n', ["job 'a': preset is missing"]),
        ('set = ["width=64"]\n', ["no jobs"]),
        ('[[job]]\npreset = "noise-zoom"\nseed = ["one"]\n', ["job 1: seed must be an integer"]),
        ('[[job]]\npreset = "noise-zoom"\nseed = []\n', ["seed: an empty list gives no jobs"]),
        ('[[job]]\npreset = "noise-zoom"\nset = "frames=3"\n', ["set must be a list"]),
        (
            '[[job]]\npreset = "noise-zoom"\n[[job]]\npreset = "noise-zoom"\n',
            ["jobs 'noise-zoom' and 'noise-zoom' both render into"],
        ),
        ('[[job]\npreset = "x"\n', ["cannot read jobs file"]),
    ],
)
def test_a_bad_jobs_file_is_one_line_naming_the_file_job_and_key(tmp_path, text, words):
    with pytest.raises(DreamreelError) as caught:
        read_jobs(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_every_job_is_checked_before_the_first_renders(tmp_path, capsys, samples_dir):
    """A typo in job 3's settings, or a missing input, stops the batch before job 1 starts:
    one line, exit 2, no folder written (the check is the one `render` makes)."""
    path = write(
        tmp_path,
        f"""
        [[job]]
        name = "fine"
        preset = "noise-zoom"
        [[job]]
        name = "also-fine"
        preset = "progress"
        input = "{samples_dir / "chelsea.jpg"}"
        [[job]]
        name = "typo"
        preset = "noise-zoom"
        set = ["dream.stpes=3"]
    """,
    )
    assert main(["batch", str(path), "--no-ray", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dreamreel: error: jobs.toml: job 'typo': unknown key 'dream.stpes'")
    assert "\n" not in err and not (tmp_path / "out").exists()
    path.write_text('[[job]]\npreset = "progress"\ninput = "nowhere.jpg"\n')
    with pytest.raises(DreamreelError, match="job 'progress': cannot read input .*nowhere.jpg"):
        check_jobs(read_jobs(path), "jobs.toml")


def test_the_summary_says_done_resumed_or_failed_with_the_reason(tmp_path):
    rows = summary_rows(
        [
            JobOutcome("a", tmp_path / "a", 4, 4, 1.25),
            JobOutcome("b", tmp_path / "b", 4, 1, 0.5),
            JobOutcome("c", tmp_path / "c", error="cannot read image 'x.png'"),
        ]
    )
    assert rows[0] == ("job", "frames", "s", "outcome", "output")
    assert rows[1] == ("a", "4", "1.2", "done", str(tmp_path / "a"))
    assert rows[2][3] == "resumed"
    assert rows[3][1:4] == ("-", "-", "failed: cannot read image 'x.png'")
