"""The video codecs a render may be encoded with (``output.codec``), as a table.

Each codec names its FFmpeg encoders (the first one the FFmpeg inside PyAV carries is
used), its container (the file's suffix follows: MP4 for players, MOV for editors'
intermediates, MKV for FFV1), the pixel formats it takes (the first is its default) and
the encoder options each pixel format needs (ProRes and DNxHR profiles). `pick_codec`
checks a codec/pixel format pair and returns what `Mp4Writer` opens; anything else is
one line naming what is possible.

h264        libx264, MP4: plays everywhere (yuv420p); crf and preset apply
hevc        libx265, MP4 tagged ``hvc1`` (Apple's players open only that tag)
av1         libsvtav1 (or libaom-av1, librav1e), MP4; crf applies (SVT-AV1's 0-63)
prores      prores_ks, MOV: ProRes 422 HQ (profile 3), yuv422p10le
prores4444  prores_ks, MOV: ProRes 4444 (profile 4), yuv444p10le or yuva444p10le
dnxhr       dnxhd, MOV: DNxHR HQ (yuv422p, 8-bit) or DNxHR HQX (yuv422p10le, 10-bit)
ffv1        ffv1, MKV: lossless, 8 to 16 bits
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..runtime.errors import DreamreelError

DEFAULT_CODEC = "h264"
AUTO = "auto"  # output.pixel_format's default: the codec's own first pixel format
DEFAULT_CRF = 15  # DeepDream's fine detail smears at x264's usual 23
DEFAULT_PRESET = "medium"
# x264's and x265's speed presets, fastest first.
X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
_X26X_FORMATS = (
    "yuv420p",
    "yuv422p",
    "yuv444p",
    "yuv420p10le",
    "yuv422p10le",
    "yuv444p10le",
)


@dataclass(frozen=True)
class Codec:
    name: str
    encoders: tuple[str, ...]  # FFmpeg encoder names, in order of preference
    container: str  # FFmpeg's muxer name
    suffix: str  # the file's suffix, from the container
    pixel_formats: tuple[str, ...]  # the first is the default
    # pixel format -> encoder options (a profile); formats not named take `options`
    profiles: dict[str, dict[str, str]] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    crf: tuple[int, int] | None = None  # the crf range it takes; None: no crf
    presets: bool = False  # takes x264/x265's speed presets
    tag: str | None = None  # the stream's codec tag (fourcc)
    min_size: tuple[int, int] = (2, 2)  # the smallest width and height it encodes


CODECS = {
    codec.name: codec
    for codec in (
        Codec(
            "h264",
            ("libx264",),
            "mp4",
            ".mp4",
            _X26X_FORMATS,
            # cpu-independent: x264's SIMD MB-tree propagation (mbtree_propagate_cost/list)
            # gave other bytes from run to run for the same frames (a noise zoom: about every
            # other encode); the C version it picks instead is deterministic, at no
            # measurable cost.
            options={"x264-params": "cpu-independent=1"},
            crf=(0, 51),
            presets=True,
        ),
        Codec(
            "hevc",
            ("libx265",),
            "mp4",
            ".mp4",
            _X26X_FORMATS,
            options={"x265-params": "log-level=error"},  # x265 prints its settings otherwise
            crf=(0, 51),
            presets=True,
            tag="hvc1",
        ),
        Codec(
            "av1",
            ("libsvtav1", "libaom-av1", "librav1e"),
            "mp4",
            ".mp4",
            ("yuv420p", "yuv420p10le"),
            crf=(0, 63),
        ),
        Codec(
            "prores",
            ("prores_ks",),
            "mov",
            ".mov",
            ("yuv422p10le",),
            options={"profile": "3"},  # 422 HQ
        ),
        Codec(
            "prores4444",
            ("prores_ks",),
            "mov",
            ".mov",
            ("yuv444p10le", "yuva444p10le"),
            options={"profile": "4"},  # 4444
        ),
        Codec(
            "dnxhr",
            ("dnxhd",),
            "mov",
            ".mov",
            ("yuv422p", "yuv422p10le"),
            profiles={"yuv422p": {"profile": "dnxhr_hq"}, "yuv422p10le": {"profile": "dnxhr_hqx"}},
            min_size=(256, 120),  # FFmpeg's dnxhd refuses smaller
        ),
        Codec(
            "ffv1",
            ("ffv1",),
            "matroska",
            ".mkv",
            ("yuv444p", "yuv420p", "yuv422p10le", "yuv444p10le", "yuv444p16le"),
            options={"level": "3"},
        ),
    )
}
# Every suffix a render's video may have (its managed names: renderer/store/frame_names.py).
VIDEO_SUFFIXES = tuple(dict.fromkeys(codec.suffix for codec in CODECS.values()))


@dataclass(frozen=True)
class Encoding:
    """What the writer opens: an encoder, a container, a pixel format and options."""

    codec: Codec
    encoder: str
    pixel_format: str
    options: dict[str, str]

    @property
    def high_depth(self) -> bool:
        """More than 8 bits a sample: worth feeding 16-bit frames."""
        return self.pixel_format.endswith(("le", "be"))

    def check_size(self, width: int, height: int, path: object) -> None:
        """One line for a frame smaller than the codec encodes (DNxHR: 256x120)."""
        low_w, low_h = self.codec.min_size
        if width < low_w or height < low_h:
            raise DreamreelError(
                f"cannot write '{path}': {self.codec.name} encodes frames of at least "
                f"{low_w}x{low_h}, these are {width}x{height}; render larger or pick another "
                f"output.codec"
            )

    @property
    def subsampled(self) -> bool:
        """Chroma at half width (4:2:2, 4:2:0): the frame must have an even size."""
        return self.pixel_format.startswith(("yuv420", "yuv422", "yuva420", "yuva422"))


def available_encoders() -> set[str]:
    import av  # lazy: PyAV loads FFmpeg's libraries

    return set(av.codecs_available)


def check_codec(name: str, pixel_format: str = AUTO, *, where: str = "output.") -> Codec:
    """The codec `name` is, its pixel format checked; one line for anything else
    (no encoder availability check: that is `pick_codec`'s)."""
    codec = CODECS.get(name)
    if codec is None:
        raise DreamreelError(f"{where}codec must be one of {', '.join(CODECS)}, got {name!r}")
    if pixel_format != AUTO and pixel_format not in codec.pixel_formats:
        raise DreamreelError(
            f"{where}pixel_format {pixel_format!r} is not one {name} takes: "
            f"{', '.join(codec.pixel_formats)} (or {AUTO!r}: {codec.pixel_formats[0]})"
        )
    return codec


def pick_codec(
    name: str = DEFAULT_CODEC,
    pixel_format: str = AUTO,
    *,
    crf: int = DEFAULT_CRF,
    preset: str = DEFAULT_PRESET,
) -> Encoding:
    """The encoding for `name` and `pixel_format`, with the first of its encoders the
    FFmpeg inside PyAV carries; a DreamreelError naming the codecs it can encode if none."""
    codec = check_codec(name, pixel_format)
    carried = available_encoders()
    encoder = next((e for e in codec.encoders if e in carried), None)
    if encoder is None:
        usable = [c.name for c in CODECS.values() if any(e in carried for e in c.encoders)]
        raise DreamreelError(
            f"output.codec {name!r} needs the encoder {' or '.join(codec.encoders)}, which "
            f"the FFmpeg inside PyAV lacks; it can encode {', '.join(usable) or 'none of them'}"
        )
    pix = codec.pixel_formats[0] if pixel_format == AUTO else pixel_format
    options = dict(codec.profiles.get(pix, codec.options))
    if codec.crf is not None:
        options["crf"] = str(crf)
    if codec.presets:
        options["preset"] = preset
    return Encoding(codec, encoder, pix, options)


def check_output_encoding(
    codec: str, pixel_format: str, crf: int, preset: str, *, where: str = "output."
) -> None:
    """The checks of output.codec, .pixel_format, .crf and .preset (spec.py's
    OutputSettings.check), each one line. (crf and preset are ignored by the codecs that
    take none: ProRes, DNxHR and FFV1 have fixed quality.)"""
    table = check_codec(codec, pixel_format, where=where)
    low, high = table.crf or (0, 63)
    if not low <= crf <= high:
        raise DreamreelError(f"{where}crf must be from {low} to {high} for {codec}, got {crf}")
    if preset not in X26X_PRESETS:
        raise DreamreelError(
            f"{where}preset must be one of x264/x265's: {', '.join(X26X_PRESETS)}; got {preset!r}"
        )
