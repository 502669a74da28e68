"""An input that ended before the frames it promised: a damaged or truncated clip.

The reader raises ``InputEnded`` when it cannot give frame k of the n its header
promised; the frame loop then keeps frames 0..k-1 (a later run resumes them) and ends
the render short. Whether a short render is a success is the user's call: without the
opt-in key (``video.allow_partial``) it ends with this error, exit 4, and nothing is
stitched; with it, the MP4/GIF hold the frames that exist and report.json says so.
"""

from __future__ import annotations

from ..runtime.errors import InputDamaged


class InputEnded(InputDamaged):
    """Frame ``frame`` (0-based: the number of frames before it) of ``count`` (None: the
    header does not say) could not be read, for ``reason`` (the decoder's or demuxer's
    own words)."""

    def __init__(self, source: str, frame: int, count: int | None, reason: str):
        self.source = source
        self.frame = frame
        self.count = count
        self.reason = reason.strip().rstrip(".")
        # Set by the mode that read the input: the key that accepts a short render.
        self.allow_key: str | None = None
        self.allowed = False
        super().__init__(self._message())

    def stopped_line(self) -> str:
        """What report.json and the terminal say: "stopped at frame k of n: reason"."""
        of = f" of {self.count}" if self.count is not None else ""
        return f"stopped at frame {self.frame}{of}: {self.reason}"

    def allow(self, key: str, allowed: bool) -> InputEnded:
        """Record the opt-in key and its value (the message then names the key)."""
        self.allow_key, self.allowed = key, bool(allowed)
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        line = f"cannot read video '{self.source}' to its end: {self.stopped_line()}"
        key = getattr(self, "allow_key", None)
        if not self.frame or key is None:  # nothing rendered, or not from a render
            return line
        kept = (
            f"the {self.frame} frames before it are kept"
            if self.frame > 1
            else "the frame before it is kept"
        )
        return (
            f"{line}; {kept} (a run again resumes them); to stitch them into a "
            f"shorter video set {key} = true (--set {key}=true), or end the range "
            f"before the damage"
        )
