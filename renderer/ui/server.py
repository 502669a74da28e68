"""The studio's web server: the page (page.py) and its JSON calls, on the standard
library's threading HTTP server, bound to 127.0.0.1 unless ``--host`` says otherwise.
A user's mistake comes back as ``{"error": "<one line>"}`` (a DreamreelError's
message), shown on the page; a bug is logged here with its traceback and the page
gets one line. Files are served only from render folders under the out root."""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
import sys
import tomllib
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..rendering.preset_files import preset_names, resolve_preset
from ..rendering.recipe import read_recipe
from ..rendering.spec_toml import spec_to_toml
from ..runtime.errors import DreamreelError
from .form import COMMON_KNOBS, MODE_KNOBS, Form, cli_line, knob_values, out_folder
from .gallery import gallery
from .jobs import JobQueue
from .page import PAGE

UPLOADS = ".uploads"  # under the out root: the photos, clips and songs dropped on the page
MAX_UPLOAD = 4 << 30  # bytes
MAX_JSON = 1 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class Studio:
    """What the handlers share: the out root, the render queue."""

    def __init__(self, out_root: Path, host: str) -> None:
        self.out_root = out_root.resolve()
        self.host = host
        self.queue = JobQueue()
        self.modes = preset_modes()

    # ------------------------------------------------------------ calls
    def state(self) -> dict[str, Any]:
        return {
            "presets": preset_names(),
            "modes": self.modes,
            "out_root": str(self.out_root),
            "knobs": {"common": list(COMMON_KNOBS), **{m: list(k) for m, k in MODE_KNOBS.items()}},
            "jobs": [job.to_json() for job in reversed(self.queue.jobs)],
            "gallery": gallery(self.out_root, self.queue.live_folders()),
        }

    def spec_call(self, data: dict) -> dict[str, Any]:
        """The form checked as ``dreamreel render`` checks it: its TOML and CLI line."""
        form = Form.from_json(data)
        spec = form.spec()
        out = out_folder(spec, self.out_root)
        return {
            "mode": spec.mode,
            "values": knob_values(spec),
            "toml": spec_to_toml(spec),
            "command": cli_line(form.render_args(out)),
            "out": str(out),
        }

    def preview_call(self, data: dict) -> dict[str, Any]:
        from .preview import preview_frame  # lazy: loads the model (TensorFlow)

        spec = Form.from_json(data).spec()
        try:
            frame = int(str(data.get("frame") or 1))
        except ValueError:
            raise DreamreelError("the preview's frame is a number, from 1") from None
        shown = preview_frame(spec, frame)
        picture = base64.b64encode(shown.jpeg).decode("ascii")
        return {
            "image": f"data:image/jpeg;base64,{picture}",
            "frame": shown.frame,
            "frames": shown.frames,
        }

    def render_call(self, data: dict) -> dict[str, Any]:
        form = Form.from_json(data)
        spec = form.spec()
        out = out_folder(spec, self.out_root)
        frames = spec.frames if spec.mode == "zoom" else None
        job = self.queue.add(spec.name, out, form.render_args(out), frames)
        return job.to_json()

    def resume_call(self, data: dict) -> dict[str, Any]:
        """A stopped (or failed) job's very command again: it carries on in its folder."""
        job = self.queue.resume(_job_id(data))
        if job is None:
            raise DreamreelError("no such render in the queue")
        return job.to_json()

    def stop_call(self, data: dict) -> dict[str, Any]:
        job = self.queue.stop(_job_id(data))
        if job is None:
            raise DreamreelError("no such render in the queue")
        return job.to_json()

    def open_call(self, data: dict) -> dict[str, Any]:
        """A recipe: a TOML, or a render's folder, manifest, frame, GIF or MP4."""
        path = str(data.get("path") or "").strip()
        if not path:
            raise DreamreelError("give a recipe: a .toml, or a render's folder or output")
        source = path if path.endswith(".toml") else str(read_recipe(path).source)
        spec = Form(preset=path).spec()
        return {
            "preset": source,
            "mode": spec.mode,
            "values": knob_values(spec),
            "toml": spec_to_toml(spec),
        }

    def upload(self, name: str, group: str, body) -> dict[str, Any]:
        """Store a dropped file under OUT_ROOT/.uploads/: a group of files (a folder of
        photos) together, each file in a folder named by its content's hash."""
        safe = _SAFE_NAME.sub("_", Path(name).name).strip("._") or "upload"
        staging = self.out_root / UPLOADS / "incoming"
        staging.mkdir(parents=True, exist_ok=True)
        part = staging / f"{safe}.{id(body)}.part"
        digest = hashlib.sha256()
        with open(part, "wb") as file:
            for chunk in body:
                digest.update(chunk)
                file.write(chunk)
        group = _SAFE_NAME.sub("_", group)[:40]
        folder = self.out_root / UPLOADS / (f"group-{group}" if group else digest.hexdigest()[:12])
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / safe
        part.replace(target)
        return {"path": str(target), "folder": str(folder)}

    def file_path(self, url_path: str) -> Path | None:
        """/files/FOLDER/NAME: a file of a render folder directly under the out root."""
        parts = [unquote(p) for p in url_path.split("/")[2:]]
        if len(parts) != 2 or any(p in ("", ".", "..") or "/" in p for p in parts):
            return None
        if parts[0].startswith("."):
            return None
        path = self.out_root / parts[0] / parts[1]
        if path.is_symlink() or not path.is_file():
            return None
        return path


def preset_modes() -> dict[str, str]:
    """Each shipped preset's mode, read from its TOML: the page shows a preset's knobs
    before the form checks (a video preset fails its check until a clip is given)."""
    modes = {}
    for name in preset_names():
        try:
            with open(resolve_preset(name), "rb") as file:
                modes[name] = str(tomllib.load(file).get("mode", ""))
        except (OSError, ValueError, DreamreelError):
            continue
    return modes


def _job_id(data: dict) -> int:
    try:
        return int(data.get("id", 0))
    except (TypeError, ValueError):
        raise DreamreelError("the page sent no render's id") from None


class Handler(BaseHTTPRequestHandler):
    server: StudioServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: errors only
        pass

    # ------------------------------------------------------------ GET
    def do_GET(self) -> None:
        if not self._host_allowed():
            return
        path = urlsplit(self.path).path
        studio = self.server.studio
        if path == "/":
            self._send(HTTPStatus.OK, PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/api/state":
            self._call(studio.state)
        elif path.startswith("/files/"):
            file = studio.file_path(path)
            if file is None:
                self._json(HTTPStatus.NOT_FOUND, {"error": "no such file"})
                return
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            self._send(HTTPStatus.OK, file.read_bytes(), kind, cache=False)
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {path}"})

    # ------------------------------------------------------------ POST
    def do_POST(self) -> None:
        if not self._host_allowed():
            return
        url = urlsplit(self.path)
        studio = self.server.studio
        length = int(self.headers.get("Content-Length") or 0)
        if url.path == "/api/upload":
            if length > MAX_UPLOAD:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "file too large"})
                return
            query = parse_qs(url.query)
            name = (query.get("name") or ["upload"])[0]
            group = (query.get("group") or [""])[0]
            self._call(lambda: studio.upload(name, group, self._body_chunks(length)))
            return
        if length > MAX_JSON:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "request too large"})
            return
        try:
            data = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(HTTPStatus.BAD_REQUEST, {"error": "the page sent no JSON"})
            return
        calls = {
            "/api/spec": studio.spec_call,
            "/api/preview": studio.preview_call,
            "/api/render": studio.render_call,
            "/api/stop": studio.stop_call,
            "/api/resume": studio.resume_call,
            "/api/open": studio.open_call,
        }
        call = calls.get(url.path)
        if call is None or not isinstance(data, dict):
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no call {url.path}"})
            return
        self._call(lambda: call(data))

    # ------------------------------------------------------------ helpers
    def _host_allowed(self) -> bool:
        """Only this server's own names (no DNS rebinding), and a page from it (no
        cross-site POST)."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        allowed = {*_LOCAL_HOSTS, self.server.studio.host}
        origin = self.headers.get("Origin")
        origin_host = urlsplit(origin).hostname if origin else None
        if host not in allowed or (origin and origin_host not in {h.strip("[]") for h in allowed}):
            self._json(HTTPStatus.FORBIDDEN, {"error": "not from this studio's page"})
            return False
        return True

    def _body_chunks(self, length: int):
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk

    def _call(self, call) -> None:
        try:
            self._json(HTTPStatus.OK, call())
        except DreamreelError as exc:  # the user's to fix: the CLI's one line
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc).splitlines()[0]})
        except Exception as exc:  # a bug: the traceback here, one line on the page
            traceback.print_exc(file=sys.stderr)
            line = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": line})

    def _json(self, status: HTTPStatus, document: dict) -> None:
        self._send(status, json.dumps(document).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, kind: str, *, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)


class StudioServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, studio: Studio) -> None:
        self.studio = studio
        super().__init__((host, port), Handler)


def make_server(host: str, port: int, out_root: Path) -> StudioServer:
    """The server, bound (port 0: any free port) but not yet serving."""
    try:
        return StudioServer(host, port, Studio(out_root, host))
    except OSError as exc:
        raise DreamreelError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
