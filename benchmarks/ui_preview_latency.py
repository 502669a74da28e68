"""The studio's Preview latency: one frame of noise-zoom at ~256 px, through the running
server's /api/preview, cold (the model loads) then warm (median of 5).

    .venv/bin/python benchmarks/ui_preview_latency.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from renderer.ui.server import make_server


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        server = make_server("127.0.0.1", 0, Path(root))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/api/preview"
        form = json.dumps({"preset": "noise-zoom", "frame": 5}).encode()

        def once() -> float:
            request = urllib.request.Request(url, form, {"Content-Type": "application/json"})
            start = time.perf_counter()
            with urllib.request.urlopen(request) as answer:
                assert "image" in json.loads(answer.read())
            return time.perf_counter() - start

        cold = once()
        warm = [once() for _ in range(5)]
        print(
            f"noise-zoom frame 5 (5 steps, 1 octave) at 256x256 px: cold {cold:.1f} s, "
            f"warm median {statistics.median(warm):.2f} s "
            f"(min {min(warm):.2f}, max {max(warm):.2f})"
        )
        server.shutdown()
        server.studio.queue.close()


if __name__ == "__main__":
    main()
