"""`dreamreel bench --quick`: the real measuring code on tiny sizes (speed is not asserted)."""

import json
import math

from renderer.cli.main import main


def test_bench_measures_the_engine_and_both_frame_kinds(tmp_path, capsys, embedded_cache):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [e["size"] for e in report["engine"]] == [64, 128]
    for entry in report["engine"]:
        assert entry["steps_per_s"] > 0
        expected = entry["size"] ** 2 / 1e6 * entry["steps_per_s"]
        assert math.isclose(entry["mpix_steps_per_s"], expected, rel_tol=0.01)
    assert [(f["mode"], f["pipeline"]) for f in report["frames"]] == [
        ("zoom", True),
        ("video", True),
        ("video", False),
    ]
    assert all(f["seconds_per_frame"] > 0 for f in report["frames"])
    assert any("pipeline" in s for s in report["suggestions"])
    printed = capsys.readouterr().out
    assert "megapixel-steps/s" in printed and "s/frame" in printed and "suggestions" in printed
