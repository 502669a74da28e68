"""What a render returns: its folder, frames, outputs, time and report.

In a notebook it shows itself (``_repr_html_``): the GIF, else the MP4, inline, with its
frames, time and, for a video, the stability line. Its repr stays one line: the timing
profile is in manifest.json and ``result.profile``, not on the screen.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from ..runtime.redaction import redacted

# Larger files are not put into the notebook itself (it would carry them when saved):
# shown by their path where the notebook server can serve them, else named.
INLINE_LIMIT_BYTES = 8 * 2**20


@dataclass(repr=False)
class RenderResult:
    out_dir: Path
    mode: str
    frames: int  # frames in the folder now
    rendered: int  # frames dreamed by this run (the rest were resumed)
    seconds: float
    outputs: list[Path]  # MP4, GIF and whatever the mode adds (a contact sheet)
    report: dict  # video: temporal stability and scene cuts; else empty
    final_loss: float | None  # the last measured loss (None if this run measured none)
    # Where this run's time went: StageClock.table() (seconds per stage, frames/s, summary)
    profile: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        loss = "" if self.final_loss is None else f", final_loss={self.final_loss:.4g}"
        names = [Path(os.fspath(p)).name for p in self.outputs]
        return (
            f"RenderResult({redacted(str(self.out_dir))!r}, mode={self.mode!r}, "
            f"frames={self.frames}, seconds={self.seconds:.1f}{loss}, outputs={names})"
        )

    def summary_line(self) -> str:
        """One line, as the CLI says it: frames (and how many resumed), time, loss."""
        resumed = self.frames - self.rendered
        note = f" ({resumed} resumed from an earlier run)" if resumed else ""
        loss = "" if self.final_loss is None else f", final loss {self.final_loss:.4f}"
        return f"{self.frames} frames{note} in {self.seconds:.1f} s{loss}"

    def _repr_html_(self) -> str:
        lines = [
            f"<b>{html.escape(self.mode)}</b> render: {html.escape(self.summary_line())}",
            f"in <code>{html.escape(redacted(str(self.out_dir)))}</code>: "
            + ", ".join(html.escape(Path(os.fspath(p)).name) for p in self.outputs),
        ]
        if "summary" in self.report:  # a video's temporal stability
            cuts = self.report.get("cuts")
            lines.append(
                html.escape(
                    self.report["summary"] + (f"; scene cuts at frames {cuts}" if cuts else "")
                )
            )
        if "stopped" in self.report:
            lines.append(html.escape(f"warning: the input {self.report['stopped']}"))
        text = "".join(f"<div>{line}</div>" for line in lines)
        return f"<div>{self._media_html()}{text}</div>"

    def _media_html(self) -> str:
        """The GIF (it plays everywhere, saved notebooks on GitHub too), else the MP4."""
        local = [Path(p) for p in self.outputs if isinstance(p, Path)]  # a URL's are not here
        for suffix, tag in ((".gif", _img), (".mp4", _video)):
            found = next((p for p in local if p.suffix == suffix and p.is_file()), None)
            if found is not None:
                return _shown(found, tag)
        return ""


def _img(src: str) -> str:
    return f'<img src="{src}" style="max-width:100%">'


def _video(src: str) -> str:
    return f'<video src="{src}" controls loop autoplay muted style="max-width:100%"></video>'


def _shown(path: Path, tag) -> str:
    """``tag`` for ``path``: inline as a data URI when small enough, else by its path
    relative to the kernel's folder (where Jupyter serves files from), else a note."""
    size = path.stat().st_size
    if size <= INLINE_LIMIT_BYTES:
        kind = "image/gif" if path.suffix == ".gif" else "video/mp4"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return tag(f"data:{kind};base64,{data}")
    megabytes = f"{size / 2**20:.0f} MB"
    try:
        relative = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:  # outside the notebook's folder: nothing to serve it from
        return f"<div>{html.escape(path.name)} is {megabytes}: open {html.escape(str(path))}</div>"
    note = f"<div>{html.escape(path.name)} is {megabytes}: shown from its file</div>"
    return tag(html.escape(quote(relative.as_posix()))) + note
