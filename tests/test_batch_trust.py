"""Batches at the edges (issue 19): a Ray retry of a --restart job resumes what its
crashed attempt stored; the local Ray that `batch` starts answers only on loopback and
only with its token, and the `ray` extras ask for a Ray that turns the token on; a date
in a jobs file's `set`, a job named '.' or '..', and a grid of too many jobs are one line.
One local Ray serves the module, started as `batch` starts it."""

from __future__ import annotations

import ipaddress
import os
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from helpers import process_tree
from packaging.requirements import Requirement
from PIL import Image

from renderer.cli.main import main
from renderer.distributed import batch_jobs, batch_run
from renderer.distributed.batch_jobs import MAX_JOBS, Job, read_jobs
from renderer.runtime.errors import DreamreelError
from renderer.store.frame_names import numbered_frame_files
from renderer.store.frame_store import FrameStore
from renderer.store.manifest import spec_hash

ROOT = Path(__file__).resolve().parent.parent
SPEC = {"name": "stand-in", "frames": 8}
MANIFEST = {"spec": SPEC, "spec_hash": spec_hash(SPEC)}

# ----------------------------------------------------------------- the local Ray


def _socket_owners(pids: set[int]) -> dict[str, int]:
    """The inodes of the sockets the processes hold -> their pid."""
    owners = {}
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:  # gone meanwhile
            continue
        owners.update({link[8:-1]: pid for link in links if link.startswith("socket:[")})
    return owners


def _proc_address(hex_text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/tcp{,6} writes it: 32-bit words in the host's byte order."""
    raw = bytes.fromhex(hex_text)
    if sys.byteorder == "little":
        raw = b"".join(raw[at : at + 4][::-1] for at in range(0, len(raw), 4))
    address = ipaddress.ip_address(raw)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return mapped or address


def _listening(pids: set[int]) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(address, port) of every TCP socket the processes listen on."""
    owners = _socket_owners(pids)
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in owners:  # 0A: LISTEN
                host, port = fields[1].split(":")
                found.append((_proc_address(host), int(port, 16)))
    return found


@pytest.fixture(scope="module")
def batch_ray():
    """The local Ray `dreamreel batch` starts (batch_run.ray_joined), with RAY_AUTH_MODE=
    disabled in the environment as a user may have it; and the processes alive before."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    assert not ray.is_initialized()
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_AUTH_MODE", "disabled")
    before = set(process_tree(os.getpid())) - {os.getpid()}
    try:
        with batch_run.ray_joined(None):
            yield ray, before
        # The user's setting is back once dreamreel's Ray is gone: a later join elsewhere
        # (--address from a notebook) must not send this Ray's token to that cluster.
        assert os.environ.get("RAY_AUTH_MODE") == "disabled"
    finally:
        patch.undo()


def test_the_local_ray_listens_on_loopback_only_and_answers_only_with_its_token(batch_ray):
    import grpc
    from ray._raylet import AuthenticationTokenLoader
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    ray, before = batch_ray
    board = ray.remote(num_cpus=0)(batch_run.FrameBoard).remote()  # a worker started later
    assert ray.get(board.counts.remote()) == {}
    listening = _listening(set(process_tree(os.getpid())) - before)  # this process and its Ray's
    gcs_port = int(ray.get_runtime_context().gcs_address.rsplit(":", 1)[1])
    assert gcs_port in {port for _, port in listening} and len(listening) >= 4
    assert [(str(host), port) for host, port in listening if not host.is_loopback] == []

    token = tuple(AuthenticationTokenLoader.instance().get_token_for_http_header().items())
    with grpc.insecure_channel(f"127.0.0.1:{gcs_port}") as channel:
        nodes = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetAllNodeInfo
        request = gcs_service_pb2.GetAllNodeInfoRequest()
        for metadata in [(), (("authorization", "Bearer not-the-token"),)]:
            with pytest.raises(grpc.RpcError) as refused:
                nodes(request, metadata=metadata, timeout=30)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert len(nodes(request, metadata=token, timeout=30).node_info_list) == 1


def test_the_ray_extras_ask_for_a_ray_that_turns_token_authentication_on():
    """Ray turns token authentication on for a new local cluster from 2.59 on."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    for extra in ("ray", "test"):
        (ray,) = [Requirement(r) for r in extras[extra] if Requirement(r).name == "ray"]
        assert ray.specifier.contains("2.59.0"), extra
        assert not any(ray.specifier.contains(old) for old in ("2.9.0", "2.58.1")), extra


FRAMES_BEFORE_CRASH = 3


def _frame_values(out: Path) -> list[int]:
    """Each stored frame's value (the stand-in paints each frame one value)."""
    paths = numbered_frame_files(out / "frames")
    return [int(np.asarray(Image.open(path)).max()) for path in paths]


def test_a_ray_retry_of_a_restart_job_resumes_what_its_crashed_attempt_stored(
    batch_ray, tmp_path, monkeypatch
):
    """`batch --restart` on Ray: the first attempt clears an earlier render's 5 frames,
    stores 3 of its own and its worker dies; the retry must resume those 3 (Ray's own
    retries repeated restart=True and cleared them). The job's stand-in stores frames
    with the real FrameStore, in a real Ray worker, as a render does."""

    # Local functions: cloudpickle sends them to the worker by value.
    def store_frames(store, values):
        for index, value in enumerate(values):
            image = np.full((8, 8, 3), value, np.uint8)
            store.write_frame(index, image, octave_losses=[1.0], final_loss=1.0, seconds=0.01)

    def attempt(job, spec, restart, board):  # batch_run._ray_job, in a fresh Ray worker
        store = FrameStore(job.out, MANIFEST, restart=restart)
        crashed = job.out / "crashed-once"
        if crashed.exists():
            return batch_run.JobOutcome(job.name, job.out, store.done_count())
        store_frames(store, range(100, 100 + FRAMES_BEFORE_CRASH))
        crashed.touch()
        os._exit(1)  # the worker dies: a crash, a lost machine

    out = tmp_path / "job"
    store_frames(FrameStore(out, MANIFEST), [10] * 5)
    monkeypatch.setattr(batch_run, "_ray_job", attempt)
    job = Job("crashes-once", "noise-zoom", None, (), out)
    (outcome,) = batch_run.run_on_ray([job], [None], restart=True, retries=1)
    assert (out / "crashed-once").exists() and outcome.error is None
    assert _frame_values(out) == [100, 101, 102]  # the crashed attempt's, kept
    assert outcome.frames == FRAMES_BEFORE_CRASH


# ----------------------------------------------------------------- jobs files

DATE_IN_SET = 'set = { seed = 1979-05-27 }\n[[job]]\npreset = "noise-zoom"\n'
TIME_IN_A_LIST = '[[job]]\npreset = "noise-zoom"\nset = { "zoom.when" = [1, 07:32:00] }\n'
# Its input is missing: were the name let through, the check of inputs would stop the
# batch before a render (in one line, but not this one).
NAMED_DOT_DOT = '[[job]]\nname = ".."\npreset = "noise-zoom"\ninput = "missing.png"\n'


def _grid(seeds: int, inputs: int) -> str:
    """A job table of seeds x inputs jobs."""
    names = [f"in{number}.png" for number in range(inputs)]
    return f'[[job]]\npreset = "noise-zoom"\nseed = {list(range(seeds))}\ninput = {names}\n'


def _refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    with pytest.raises(DreamreelError) as refused:
        read_jobs(path, tmp_path / "out")
    message = str(refused.value)
    assert "\n" not in message and message.startswith("jobs.toml: ")
    return message


@pytest.mark.parametrize(
    "text, odd",
    [(DATE_IN_SET, "1979-05-27 (a date)"), (TIME_IN_A_LIST, "07:32:00 (a time)")],
    ids=["date", "time-in-a-list"],
)
def test_a_date_or_time_in_a_jobs_files_set_is_one_line(tmp_path, text, odd):
    assert odd in _refusal(tmp_path, text)


@pytest.mark.parametrize(
    "table",
    ['name = "."', 'name = ".."', 'preset = "..toml"'],  # the last: named "."
    ids=["dot", "dot-dot", "preset-stem-dot"],
)
def test_a_job_named_dot_or_dot_dot_is_refused(tmp_path, table):
    (tmp_path / "..toml").write_text('mode = "zoom"\n')
    preset = "" if "preset" in table else 'preset = "noise-zoom"\n'
    message = _refusal(tmp_path, f"[[job]]\n{table}\n{preset}")
    assert "is no folder name" in message


def test_job_names_with_separators_stay_inside_out(tmp_path):
    path = tmp_path / "jobs.toml"
    names = ["../../escaped", "a/b", "..\\\\x", "..."]
    path.write_text("".join(f'[[job]]\nname = "{n}"\npreset = "noise-zoom"\n' for n in names))
    jobs = read_jobs(path, tmp_path / "out")
    assert [job.out.parent for job in jobs] == [tmp_path / "out"] * len(names)
    assert all(job.out.name not in (".", "..") for job in jobs)


def test_a_jobs_file_past_the_bound_is_refused_before_its_jobs_are_built(tmp_path, monkeypatch):
    built = []
    original = batch_jobs.Job
    monkeypatch.setattr(batch_jobs, "Job", lambda *a, **k: built.append(1) or original(*a, **k))
    message = _refusal(tmp_path, _grid(200, 100))  # 20,000 jobs from 2 KB
    assert "20,000 jobs" in message and f"{MAX_JOBS:,}" in message
    message = _refusal(tmp_path, _grid(1000, 1000))  # a million: counted, never built
    assert "1,000,000 jobs" in message and built == []
    path = tmp_path / "jobs.toml"
    path.write_text(_grid(100, 100))  # the bound itself is fine
    assert len(read_jobs(path, tmp_path / "out")) == MAX_JOBS


@pytest.mark.parametrize(
    "text, says",
    [
        (DATE_IN_SET, "1979-05-27 (a date)"),
        (NAMED_DOT_DOT, "is no folder name"),
        (_grid(200, 100), f"over the {MAX_JOBS:,}"),
    ],
    ids=["date", "dot-dot", "too-many"],
)
def test_through_the_cli_each_is_one_line(tmp_path, capsys, text, says):
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    assert main(["batch", str(path), "--no-ray", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("dreamreel: error: jobs.toml")
    assert says in err
    assert not (tmp_path / "out").exists()  # nothing was made
