"""``dreamreel ui``: the form as the CLI's arguments, the server's refusals, the bind
address, and one walk through the page in a real browser (headless Chromium driven by
Selenium: upload, preview, render, stop, resume, the MP4 in the gallery)."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from renderer.cli.main import main
from renderer.rendering.default_out import default_out
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError
from renderer.ui.app import exposed_warning
from renderer.ui.form import Form
from renderer.ui.gallery import gallery
from renderer.ui.jobs import Job
from renderer.ui.server import make_server

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "samples" / "chelsea.jpg"
TINY = {"width": "48", "height": "48", "dream.steps": "1", "zoom.first_steps": "1"}


@pytest.fixture
def studio(tmp_path):
    server = make_server("127.0.0.1", 0, tmp_path / "renders")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    server.studio.queue.close()


def _post(url: str, document: dict, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_form_becomes_the_cli_arguments(tmp_path):
    form = Form.from_json(
        {
            "preset": "noise-zoom",
            "input": str(PHOTO),
            "knobs": {"frames": "4", "zoom.scale": " ", "dream.steps": "2"},
            "more": "# a note\nzoom.rotation=0:(0), 3:(1)\n",
        }
    )
    out = tmp_path / "x"
    assert form.render_args(out) == [
        "render", "noise-zoom", "--input", str(PHOTO),
        "--set", "frames=4", "--set", "dream.steps=2", "--set", "zoom.rotation=0:(0), 3:(1)",
        "--out", str(out),
    ]  # fmt: skip
    with pytest.raises(DreamreelError, match="not KEY=VALUE"):
        Form(preset="noise-zoom", more="zoom.scale").overrides()


def test_a_page_render_is_the_cli_render_and_folder(tmp_path, studio, monkeypatch):
    """The job's arguments, given to the CLI without --out, make the same spec and the
    folder name the UI chose (renders/PRESET-INPUT-HASH): the CLI's dry run says so."""
    _, url = studio
    form = {"preset": "noise-zoom", "input": str(PHOTO), "knobs": {**TINY, "frames": "3"}}
    status, answer = _post(url + "/api/spec", form)
    assert status == 200
    args = Form.from_json(form).render_args(Path("unused"))[:-2]  # without --out
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert main([*args, "--dry-run"]) == 0
    heading, toml = printed.getvalue().split("\n", 1)
    assert heading.startswith(f"# output: renders/{Path(answer['out']).name} ")
    assert toml == answer["toml"]
    assert Path(answer["out"]).name == default_out(Form.from_json(form).spec()).name


def test_mistakes_come_back_as_one_line(studio):
    _, url = studio
    status, answer = _post(url + "/api/spec", {"preset": "noise-zoom", "knobs": {"frames": "x"}})
    assert status == 400
    assert answer["error"].startswith("frames") and "\n" not in answer["error"]
    assert "Traceback" not in answer["error"]
    status, answer = _post(url + "/api/render", {"preset": "no-such-preset"})
    assert status == 400 and "no-such-preset" in answer["error"]
    assert _post(url + "/api/preview", {"preset": ""})[0] == 400


def _fake_render(out_root: Path, name: str, overrides: list[str]) -> Path:
    """A render folder as a stopped render leaves it: its manifest, no outputs."""
    folder = out_root / name
    folder.mkdir(parents=True)
    spec = load_spec("noise-zoom", overrides)
    manifest = {
        "spec": spec.to_dict(),
        "spec_hash": "0" * 16,
        "mode": spec.mode,
        "frames": spec.frames,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_blank_knobs_show_the_preset_or_recipe_value(studio):
    """A blank knob keeps the preset's value: the page shows that value in it, and an
    opened recipe's own settings (not the shipped preset's)."""
    server, url = studio
    status, answer = _post(url + "/api/spec", {"preset": "noise-zoom", "knobs": {"frames": "7"}})
    assert status == 200
    assert answer["values"]["frames"] == "7" and answer["values"]["width"] == "384"
    assert answer["values"]["layers"].startswith("{block_12_expand_relu=")
    assert answer["values"]["objective"] == "(none)"
    folder = _fake_render(server.studio.out_root, "r", ["width=64", "frames=6", "seed=3"])
    status, answer = _post(url + "/api/open", {"path": str(folder)})
    assert status == 200, answer
    assert answer["mode"] == "zoom"
    assert (answer["values"]["width"], answer["values"]["frames"]) == ("64", "6")
    assert answer["values"]["seed"] == "3"
    # the layers as shown are taken back by --set as they are
    layers = answer["values"]["layers"]
    assert (
        load_spec("noise-zoom", [f"layers={layers}"]).layers == load_spec("noise-zoom", []).layers
    )


def test_each_preset_knows_its_mode_before_a_check(studio):
    """A video preset fails its check until a clip is given; its knobs show anyway."""
    _, url = studio
    with urllib.request.urlopen(url + "/api/state") as answer:
        state = json.loads(answer.read())
    assert state["modes"]["video-quick"] == "video"
    assert state["modes"]["noise-zoom"] == "zoom" and state["modes"]["progress"] == "progress"
    assert set(state["modes"]) == set(state["presets"])


def test_a_stopped_job_resumes_with_its_own_command(studio, tmp_path):
    """Stopped before its first frame, a render's folder may still hold an earlier run's
    outputs (the gallery then calls it finished): the job itself offers Resume."""
    server, url = studio
    queue = server.studio.queue
    queue.close()  # no worker: the resumed job stays queued, nothing renders
    args = ["render", "noise-zoom", "--set", "frames=9", "--out", str(tmp_path / "r")]
    queue.jobs.append(Job(41, "noise-zoom", tmp_path / "r", args, 9, state="stopped"))
    status, answer = _post(url + "/api/resume", {"id": 41})
    assert status == 200, answer
    assert answer["state"] == "queued" and answer["id"] != 41
    assert queue.jobs[-1].args == args and queue.jobs[-1].out == tmp_path / "r"
    assert _post(url + "/api/resume", {"id": answer["id"]})[1]["id"] == answer["id"]  # once
    assert _post(url + "/api/resume", {"id": "x"})[0] == 400
    assert _post(url + "/api/resume", {"id": 999})[0] == 400


def test_a_folder_being_rendered_is_not_offered_to_resume(tmp_path):
    folder = _fake_render(tmp_path, "r", ["width=64", "frames=6"])
    (entry,) = gallery(tmp_path)
    assert not entry["finished"] and not entry["rendering"]  # stopped: resumable
    (entry,) = gallery(tmp_path, {folder})
    assert entry["rendering"]


def test_files_only_from_render_folders(tmp_path, studio):
    server, url = studio
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    (server.studio.out_root / ".uploads").mkdir(parents=True)
    (server.studio.out_root / ".uploads" / "a.txt").write_text("no")
    for path in ("/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/.uploads/a.txt"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + path)
        assert refused.value.code == 404


def test_other_hosts_and_sites_are_refused(studio):
    _, url = studio
    port = url.rsplit(":", 1)[1]
    status, _ = _post(url + "/api/spec", {"preset": "noise-zoom"}, {"Host": f"evil.example:{port}"})
    assert status == 403  # DNS rebinding
    status, _ = _post(
        url + "/api/spec", {"preset": "noise-zoom"}, {"Origin": "http://evil.example"}
    )
    assert status == 403  # another site's page posting here
    assert "reachable by anyone" in (exposed_warning("0.0.0.0") or "")
    assert exposed_warning("127.0.0.1") is None and exposed_warning("localhost") is None


def _other_address() -> str | None:
    """An IPv4 address of this machine that is not the loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: the route's source address
            address = probe.getsockname()[0]
    except OSError:
        address = socket.gethostbyname(socket.gethostname())
    return None if address.startswith("127.") else address


def test_not_reachable_on_other_interfaces(studio):
    _, url = studio
    address = _other_address()
    if address is None:
        pytest.skip("this machine has no address but the loopback")
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address, port), timeout=5).close()
    socket.create_connection(("127.0.0.1", port), timeout=5).close()  # while this one answers


# ---------------------------------------------------------------- the real browser
def _browser():
    if os.environ.get("CI"):  # .ci/run installs selenium with the test tools
        from selenium import webdriver
    else:
        webdriver = pytest.importorskip("selenium.webdriver")
    chrome = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    driver = shutil.which("chromedriver")
    if chrome is None or driver is None:
        if os.environ.get("CI"):  # .ci/run installs them: a missing browser fails there
            pytest.fail("no chromium/chromedriver: apt-get install -y chromium chromium-driver")
        pytest.skip("no chromium and chromedriver (apt-get install -y chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def _wait(condition, seconds: float = 120, what: str = ""):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            value = condition()
        except Exception:  # an element redrawn between two looks
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"waited {seconds} s for {what}")


# Its own CI step (.ci/run: pytest -m browser): three TensorFlow loads, a minute on 2 cores.
@pytest.mark.browser
def test_studio_in_a_real_browser(studio, tmp_path):
    server, url = studio
    browser = _browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    find = browser.find_element
    try:
        browser.get(url)
        _wait(lambda: browser.execute_script("return document.body.dataset.ready"), 30, "page")
        assert find(By.ID, "preset").get_attribute("value") == "noise-zoom"
        _wait(lambda: find(By.ID, "knob-width").get_attribute("placeholder") == "384", 10, "values")
        Select(find(By.ID, "preset")).select_by_value("video-quick")  # no clip yet: knobs anyway
        _wait(lambda: find(By.ID, "knob-video.max_size"), 10, "the video preset's knobs")
        Select(find(By.ID, "preset")).select_by_value("noise-zoom")
        find(By.ID, "guide-file").send_keys(str(PHOTO))
        _wait(lambda: find(By.ID, "knob-objective").get_attribute("value").startswith("guide:"))
        find(By.ID, "knob-objective").clear()
        find(By.ID, "input-file").send_keys(str(PHOTO))
        _wait(lambda: find(By.ID, "input").get_attribute("value").endswith("chelsea.jpg"))
        _wait(lambda: find(By.ID, "knob-frames"), 10, "the zoom's knobs")
        uploaded = find(By.ID, "input").get_attribute("value")
        for key, value in {**TINY, "frames": "120"}.items():
            find(By.ID, f"knob-{key}").send_keys(value)

        find(By.ID, "preview").click()  # the first loads the model
        _wait(lambda: find(By.ID, "preview-img").get_attribute("src").startswith("data:image"))
        assert "frame 1 of 120" in find(By.ID, "preview-note").text

        find(By.ID, "render").click()
        _wait(lambda: int(find(By.CSS_SELECTOR, ".job").get_attribute("data-id")) == 1)
        _wait(lambda: find(By.CSS_SELECTOR, ".job img.latest"), 120, "the latest frame")
        find(By.CSS_SELECTOR, "button.stop").click()
        _wait(lambda: find(By.CSS_SELECTOR, ".job").get_attribute("data-state") == "stopped")
        job = server.studio.queue.jobs[0]
        stopped = len(list((job.out / "frames").glob("*.png")))
        assert 0 < stopped < 120, stopped  # stopped before the end, frames kept
        assert find(By.CSS_SELECTOR, '.job[data-state="stopped"] button.resume-job')

        entry = '.entry[data-finished="false"] button.resume'
        _wait(lambda: find(By.CSS_SELECTOR, entry), 20, "the stopped render in the gallery")
        if os.environ.get("DREAMREEL_SCREENSHOT"):  # docs/assets/studio.png
            browser.execute_script("window.scrollTo(0, 0)")
            browser.save_screenshot(os.environ["DREAMREEL_SCREENSHOT"])
        find(By.CSS_SELECTOR, entry).click()  # the same recipe, the same folder: resumed
        video = _wait(lambda: find(By.CSS_SELECTOR, ".entry video"), 180, "the MP4")
        assert video.get_attribute("src").endswith("/zoom.mp4")
        assert video.size["width"] == 256  # a 48 px render shown at a size one can see
        resumed = server.studio.queue.jobs[-1]
        _wait(lambda: resumed.state != "running", 60, "the resumed render's end")
        assert resumed.out == job.out and resumed.state == "done"
        assert resumed.result["resumed"] == stopped
        with urllib.request.urlopen(video.get_attribute("src")) as answer:
            assert answer.headers["Content-Type"] == "video/mp4" and answer.read(12)[4:8] == b"ftyp"
        # a frame's recipe, chosen as a file: opened at once, its settings in the knobs
        Select(find(By.ID, "preset")).select_by_value("noise-zoom")
        _wait(lambda: find(By.ID, "knob-width").get_attribute("placeholder") == "384", 10, "preset")
        assert not find(By.ID, "opened").text
        find(By.ID, "recipe-file").send_keys(str(job.out / "frames" / "000002.png"))
        _wait(lambda: find(By.ID, "opened").text, 20, "the recipe opened")
        assert find(By.ID, "knob-frames").get_attribute("placeholder") == "120"
        assert find(By.ID, "knob-width").get_attribute("placeholder") == "48"
        assert "Traceback" not in browser.page_source
    finally:
        browser.quit()

    # The frames are the CLI render's own: its identity's folder, and the first frames
    # rendered again here as `dreamreel render` renders them hold the same pixels.
    import cv2
    import numpy as np

    from renderer.rendering.render_preset import render

    knobs = {"preset": "noise-zoom", "input": uploaded}
    full = Form.from_json({**knobs, "knobs": {**TINY, "frames": "120"}}).spec()
    assert job.out.name == default_out(full).name
    again = tmp_path / "again"
    render(Form.from_json({**knobs, "knobs": {**TINY, "frames": "3"}}).spec(), out=again)
    for name in ("000001.png", "000002.png", "000003.png"):
        ours, theirs = (cv2.imread(str(d / "frames" / name)) for d in (job.out, again))
        assert ours is not None and np.array_equal(ours, theirs), name
