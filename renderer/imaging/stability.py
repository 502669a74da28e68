"""The stability meter: E_warp and dream strength of a render against its source, frame
by frame or streamed over a clip, into a StabilityReport.

numpy + OpenCV only (no TensorFlow); flow, warping and masks come from
renderer.imaging.flow.

E_warp (Lai et al. 2018): flow always from the *input* (source) video, RGB in [0, 1],
``E_warp(O) = mean_t sum(M_t * |O_t - warp(O_{t-1}, w_t)|^2) / sum(M_t)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from ..runtime.errors import DreamreelError
from .flow import FlowEstimator, flow_pair, is_scene_cut, occlusion_mask, sample_maps, to_gray

# ---------------------------------------------------------------- E_warp


def _unit_rgb(image: np.ndarray) -> np.ndarray:
    """float32 in [0, 1]: uint8 / 255, floats taken as already in [0, 1]."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float32) * np.float32(1.0 / 255.0)
    return image.astype(np.float32, copy=False)


def warp_error(
    out_prev: np.ndarray,
    out_cur: np.ndarray,
    mask: np.ndarray,
    backward_flow: np.ndarray,
    *,
    maps: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """One term of E_warp: ``sum(M * |O_t - warp(O_{t-1})|^2) / sum(M)``.

    Images are uint8 (divided by 255) or float in [0, 1]. Per pixel, the squared
    differences are **summed over the channels** (the squared L2 norm of the RGB error, as
    in Lai et al. 2018, so the value lies in [0, 3] for RGB), then averaged over pixels with
    the mask as weights. ``O_{t-1}`` is warped in float (no uint8 rounding). Returns NaN
    when the mask has no reliable pixel (nothing to measure; `StabilityMeter` skips it);
    ``measure_frame`` gives NaN for a pair across a scene cut too.
    ``maps``: ``sample_maps(backward_flow)``, when the caller warps more than one image.
    OpenCV per pixel, numpy's sum in double: 2.5x faster than numpy alone.
    """
    prev = _unit_rgb(out_prev)
    cur = _unit_rgb(out_cur)
    if prev.shape != cur.shape:
        raise ValueError(f"frames differ in shape: {prev.shape} vs {cur.shape}")
    weights = np.asarray(mask, dtype=np.float32)
    total = float(weights.sum(dtype=np.float64))
    if total <= 0.0:
        return math.nan
    map_x, map_y = (
        maps if maps is not None else sample_maps(np.asarray(backward_flow, dtype=np.float32))
    )
    warped = cv2.remap(
        np.ascontiguousarray(prev), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    diff = cv2.subtract(np.ascontiguousarray(cur), warped)
    cv2.multiply(diff, diff, dst=diff)
    channels = diff.shape[2] if diff.ndim == 3 else 1
    per_pixel = (
        cv2.transform(diff, np.ones((1, channels), np.float32))
        if channels > 1
        else diff.reshape(weights.shape)
    )
    per_pixel = cv2.multiply(per_pixel.reshape(weights.shape), weights)
    # numpy sums in double: OpenCV's own sums differed in the last bits from run to run,
    # and a resumed render must report exactly what an uninterrupted one does.
    return float(per_pixel.sum(dtype=np.float64) / total)


def dream_strength(source: np.ndarray, output: np.ndarray) -> float:
    """Mean absolute difference, RGB in [0, 1], averaged over pixels *and* channels."""
    source, output = np.asarray(source), np.asarray(output)
    if source.dtype == np.uint8 and output.dtype == np.uint8:  # exact, in integers
        return float(cv2.norm(output, source, cv2.NORM_L1) / 255.0 / output.size)
    return float(np.mean(np.abs(_unit_rgb(output) - _unit_rgb(source)), dtype=np.float64))


# ---------------------------------------------------------------- stability report


@dataclass
class StabilityReport:
    """Temporal stability of a render against its source (E_warp after Lai et al. 2018).

    e_warp_output  -- E_warp of the output, flow and masks from the source video.
    e_warp_input   -- E_warp of the source itself: the floor set by flow errors.
    added_flicker  -- e_warp_output - e_warp_input (what the dream adds; ~0 is stable).
    dream_strength -- mean |output - source|, RGB in [0, 1]: E_warp alone rewards a video
                      that stops dreaming, so read the two together.
    frames         -- frames measured (E_warp averages over frames - 1 pairs).
    per_second     -- one dict per second of video: second, first_frame, frames and the
                      same four numbers (None where a second has no frame pair).
    method         -- flow used, e.g. "dis/medium".
    notes          -- anything the reader should know (resized source, frame counts...).
    E_warp values are None when fewer than two frames (or no reliable pixel) were measured.
    """

    e_warp_output: float | None
    e_warp_input: float | None
    added_flicker: float | None
    dream_strength: float | None
    frames: int
    fps: float
    per_second: list[dict[str, Any]] = field(default_factory=list)
    method: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_line(self) -> str:
        def num(value):
            return "n/a" if value is None else f"{value:.5f}"

        line = (
            f"stability ({self.frames} frames, flow {self.method}): added flicker "
            f"{num(self.added_flicker)} (E_warp output {num(self.e_warp_output)}, input "
            f"{num(self.e_warp_input)}), dream strength {num(self.dream_strength)}"
        )
        if self.notes:
            line += f" [{'; '.join(self.notes)}]"
        return line


class _Sums:
    """Running sums for one span (whole clip or one second): O(1) memory."""

    def __init__(self):
        self.frames = 0
        self.pairs = 0
        self.e_out = 0.0
        self.e_in = 0.0
        self.strength = 0.0

    def numbers(self) -> dict[str, float | None]:
        e_out = self.e_out / self.pairs if self.pairs else None
        e_in = self.e_in / self.pairs if self.pairs else None
        return {
            "e_warp_output": e_out,
            "e_warp_input": e_in,
            "added_flicker": None if e_out is None else e_out - e_in,
            "dream_strength": self.strength / self.frames if self.frames else None,
        }


@dataclass(frozen=True)
class FrameTerms:
    """One frame's part of the stability report; a render keeps them in losses.csv, so
    its report is the same whether it ran in one go or was resumed."""

    dream_strength: float
    e_warp_output: float | None = None  # None: no frame before; NaN: a cut or no reliable pixel
    e_warp_input: float | None = None

    def to_log(self) -> dict[str, float | None]:
        return asdict(self)

    @classmethod
    def from_log(cls, row: dict[str, Any]) -> FrameTerms | None:
        """The terms of a losses.csv row; None when the row has none (an older render)."""
        strength = row.get("dream_strength")
        if not isinstance(strength, (int, float)):
            return None
        return cls(
            float(strength),
            _logged_float(row.get("e_warp_output")),
            _logged_float(row.get("e_warp_input")),
        )


def _logged_float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def measure_frame(
    source: np.ndarray,
    output: np.ndarray,
    previous: tuple[np.ndarray, np.ndarray] | None = None,
    *,
    estimator: FlowEstimator | None = None,
    flows: tuple[np.ndarray, np.ndarray] | None = None,
    mask: np.ndarray | None = None,
) -> FrameTerms:
    """The terms of one frame: its dream strength and, with the ``previous`` frame's
    ``(source, output)``, the E_warp of the pair for the output and for the source.

    ``flows`` (and their occlusion ``mask``): the pair's ``flow_pair`` when the caller has
    it (the video mode computed it for its carry); otherwise ``estimator`` computes it
    from the two source frames.
    """
    source, output = np.asarray(source), np.asarray(output)
    if source.shape != output.shape:
        raise DreamreelError(
            f"output frame {output.shape[1]}x{output.shape[0]} and source frame "
            f"{source.shape[1]}x{source.shape[0]} differ in size"
        )
    strength = dream_strength(source, output)
    if previous is None:
        return FrameTerms(strength)
    prev_source, prev_output = previous
    if flows is None:
        estimator = estimator if estimator is not None else FlowEstimator()
        flows, mask = flow_pair(estimator, to_gray(prev_source), to_gray(source)), None
    backward, forward = flows
    if mask is None:
        mask = occlusion_mask(backward, forward)
    if is_scene_cut(to_gray(prev_source), to_gray(source), mask):
        # No correspondence across a cut (Lai et al. measure within shots): the few pixels
        # that pass the flow check there would weigh a whole clip's flicker by chance.
        return FrameTerms(strength, math.nan, math.nan)
    maps = sample_maps(np.asarray(backward, dtype=np.float32))  # shared by both terms
    return FrameTerms(
        strength,
        warp_error(prev_output, output, mask, backward, maps=maps),
        warp_error(prev_source, source, mask, backward, maps=maps),
    )


class StabilityMeter:
    """Streaming E_warp / dream strength: ``add(source, output)`` frame by frame, or
    ``add_terms`` with terms measured before (a render's losses.csv).

    Holds only the previous frame pair and running sums: O(1) memory in the clip length.
    Two flows per frame (backward and forward, from the *source*), so at 720p the cost is
    about twice the estimator's per-pair time.
    """

    def __init__(self, fps: float | Fraction, estimator: FlowEstimator | None = None):
        fps_value = float(fps)
        if not math.isfinite(fps_value) or fps_value <= 0:
            raise DreamreelError(f"fps must be a positive number, got {fps}")
        self.fps = Fraction(fps) if isinstance(fps, Fraction) else fps_value
        self.estimator = estimator if estimator is not None else FlowEstimator()
        self.notes: list[str] = []
        self._total = _Sums()
        self._second = _Sums()
        self._second_index = 0
        self._second_first = 0
        self._per_second: list[dict[str, Any]] = []
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._shape: tuple[int, ...] | None = None
        self._empty_masks = 0

    @property
    def frames(self) -> int:
        return self._total.frames

    def _second_of(self, index: int) -> int:
        # Frame i starts at i / fps seconds; the epsilon keeps 2997 / 29.97 in second 100.
        return int(math.floor(index / self.fps + 1e-9))

    def add(
        self,
        source_rgb: np.ndarray,
        output_rgb: np.ndarray,
        *,
        flows: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> FrameTerms:
        """Measure one frame: the source frame and the rendered frame made from it.

        ``flows``: the ``flow_pair`` of the previous and this source frame when the caller
        has it already (with this meter's estimator): the same numbers without computing
        the flows twice. Returns the frame's terms, as added.
        """
        source, output = np.asarray(source_rgb), np.asarray(output_rgb)
        if self._shape is not None and source.shape != self._shape:
            raise DreamreelError(
                f"frame {self.frames} is {source.shape[1]}x{source.shape[0]}, expected "
                f"{self._shape[1]}x{self._shape[0]}: all frames must share one size"
            )
        # As given (uint8 from clips and renders): the video mode measures the same way.
        terms = measure_frame(source, output, self._prev, estimator=self.estimator, flows=flows)
        self._shape = source.shape
        self._prev = (source, output)
        self.add_terms(terms)
        return terms

    def add_terms(self, terms: FrameTerms) -> None:
        """Count one more frame with terms measured before (``add`` returns them)."""
        index = self.frames
        second = self._second_of(index)
        if second != self._second_index:
            self._close_second()
            self._second_index, self._second_first = second, index
        e_out, e_in = terms.e_warp_output, terms.e_warp_input
        paired = e_out is not None and e_in is not None
        if paired and math.isnan(e_out):
            self._empty_masks += 1
            paired = False
        for sums in (self._total, self._second):
            sums.frames += 1
            sums.strength += terms.dream_strength
            if paired:
                sums.pairs += 1
                sums.e_out += e_out
                sums.e_in += e_in

    def _close_second(self) -> None:
        if self._second.frames:
            self._per_second.append(
                {
                    "second": self._second_index,
                    "first_frame": self._second_first,
                    "frames": self._second.frames,
                    **self._second.numbers(),
                }
            )
        self._second = _Sums()

    def report(self) -> StabilityReport:
        """The numbers so far (the meter can keep going after a report)."""
        per_second = list(self._per_second)
        if self._second.frames:
            per_second.append(
                {
                    "second": self._second_index,
                    "first_frame": self._second_first,
                    "frames": self._second.frames,
                    **self._second.numbers(),
                }
            )
        notes = list(self.notes)
        if self._empty_masks:
            notes.append(
                f"{self._empty_masks} frame pair(s) crossed a scene cut or had no reliable "
                "pixel and were left out of E_warp"
            )
        return StabilityReport(
            frames=self.frames,
            fps=float(self.fps),
            per_second=per_second,
            method=self.estimator.name,
            notes=notes,
            **self._total.numbers(),
        )
