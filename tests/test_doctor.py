"""`dreamreel doctor`: what a render will run on, and one line when it cannot run."""

from __future__ import annotations

from types import SimpleNamespace

from renderer.cli import doctor
from renderer.cli.main import main
from renderer.runtime import device


def fake_tf(gpus: list[str], *, cuda: bool = True):
    """Just enough of TensorFlow's module for device.probe."""
    physical = [SimpleNamespace(name=f"/physical_device:GPU:{i}") for i in range(len(gpus))]
    details = {d.name: {"device_name": name} for d, name in zip(physical, gpus)}
    return SimpleNamespace(
        __version__="2.99.0",
        config=SimpleNamespace(
            list_physical_devices=lambda kind: physical if kind == "GPU" else [],
            experimental=SimpleNamespace(get_device_details=lambda d: details[d.name]),
        ),
        test=SimpleNamespace(is_built_with_cuda=lambda: cuda),
    )


def test_doctor_reports_the_machine_and_exits_0(tmp_path, capsys):
    code = main(["doctor", "--out", str(tmp_path / "renders")])
    out, err = capsys.readouterr()
    assert code == 0, err
    labels = {line.split("  ", 1)[0] for line in out.splitlines() if "  " in line}
    assert labels >= {
        "dreamreel",
        "python",
        "tensorflow",
        "keras",
        "devices",
        "renders on",
        "numpy",
        "opencv",
        "pyav",
        "ffmpeg",
        "model cache",
        "weights offline",
        "free disk",
    }
    assert "backend tensorflow" in out and "libavcodec" in out
    assert f"GiB in {tmp_path} (renders go to {tmp_path / 'renders'})" in out
    assert not (tmp_path / "renders").exists()  # doctor writes nothing


def test_the_device_used_is_the_first_gpu_found():
    found = device.probe(fake_tf(["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"]))
    assert found.used == "GPU:0 NVIDIA H100 80GB HBM3" and len(found.gpus) == 2
    assert device.probe(fake_tf([])).used == "CPU"


def test_a_cuda_build_that_finds_no_gpu_beside_a_driver_is_called_out(tmp_path, monkeypatch):
    monkeypatch.setattr(device, "nvidia_driver_present", lambda: True)
    report = doctor.run_doctor(tmp_path, import_tf=lambda: fake_tf([]))
    assert any("found no GPU" in w for w in report.warnings)
    assert dict(report.lines)["renders on"] == "CPU"
    doctor.check(report)  # a warning: a render still runs

    monkeypatch.setattr(device, "nvidia_driver_present", lambda: False)
    report = doctor.run_doctor(tmp_path, import_tf=lambda: fake_tf([]))
    assert not any("found no GPU" in w for w in report.warnings)
    assert dict(report.lines)["renders on"] == "CPU (no NVIDIA driver on this machine)"
    report = doctor.run_doctor(tmp_path, import_tf=lambda: fake_tf(["NVIDIA L4"]))
    assert dict(report.lines)["renders on"] == "GPU:0 NVIDIA L4" and not any(
        "found no GPU" in w for w in report.warnings
    )


def test_a_missing_tensorflow_ends_in_one_line_and_a_nonzero_exit(monkeypatch, capsys):
    import renderer.runtime.quiet_tensorflow

    def broken():
        raise ImportError("libcudart.so.12: cannot open shared object file")

    monkeypatch.setattr(renderer.runtime.quiet_tensorflow, "import_tensorflow_quietly", broken)
    code = main(["doctor"])
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "dreamreel: error: TensorFlow cannot be imported (libcudart.so.12"
    ), err
    assert "tensorflow" in out and "cannot be imported" in out  # the report still prints


def test_doctor_json_is_one_document_on_stdout(tmp_path, capsys):
    """For scripts: --json prints one JSON document (every check and the problems) and
    nothing else on stdout; the verdict stays the exit code."""
    import json

    code = main(["doctor", "--json", "--out", str(tmp_path / "renders")])
    out, err = capsys.readouterr()
    assert code == 0, err
    document = json.loads(out)
    assert document["problems"] == [] and document["checks"]["renders on"]
    assert {"python", "tensorflow", "free disk"} <= set(document["checks"])
