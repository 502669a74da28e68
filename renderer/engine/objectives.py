"""Objectives: what a dream maximises, as values that compose (lucid's idea).

    layer("block_13_expand_relu") + 0.5 * channel("block_12_expand_relu", 37) - 0.1 * tv()

An Objective is a weighted sum of terms. Each term says what to measure; the engine
(renderer/engine/objective_graph.py, renderer/engine/ascent.py) keeps tiling, jitter and gradient
normalisation, so a term never sees a tile or a roll. The text and table forms are read
by renderer/engine/objective_parser.py; a model names the layers a term leaves open
(renderer/engine/objective_layers.py).

Terms:
  layer:NAME            mean activation of a layer (the classic dream; the default)
  channel:NAME:INDEX    mean activation of one channel of a layer
  neuron:NAME:INDEX     one channel at the centre unit of the image (the image's centre
                        tracked through the jitter roll; in the tile that holds it)
  class:KEY             a classifier head's logit for a class (an index or a name such as
                        golden_retriever; `dreamreel models classes MODEL`), measured as the
                        head sees it: the mean over positions of the head's linear map of
                        the last feature layer (its global average pool, then the dense)
  guide:PATH            the guide image's feature direction: the image's mean activation
  guide:LAYER:PATH      (per tile) dotted with the guide's mean activation direction, times
                        their cosine to the 4th (lucid's direction objective with a cosine
                        power): the features turn toward the guide's, and grow. LAYER
                        defaults to the model's deepest default layer
  guide_match:PATH      Google's "controlling dreams": each position's activation is pulled
  guide_match:LAYER:PATH  toward the guide feature it already resembles most (the mean over
                        positions of the best dot product with the guide's features): the
                        guide's textures, placed where they fit; the overall features
                        need not turn toward the guide's
  tv                    total variation of the image (mean absolute difference between
                        neighbouring pixels): subtract it to smooth the dream
  temporal              video: the mean squared difference (RGB in 0..1) between the image
                        and the earlier dreamed frames warped onto it by the clip's optical
                        flow, where the flow holds (Ruder et al. 2016); subtract it to hold
                        the dream to the scene. video.coherence adds it; elsewhere it is 0

This module imports no TensorFlow: a spec is checked before any model loads.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..runtime.errors import DreamreelError
from ..schedules.keyframes import Schedule

KINDS = ("layer", "channel", "neuron", "class", "guide", "guide_match", "tv", "temporal")
IMAGE_KINDS = ("tv", "temporal")  # terms of the image itself: no layer, no value after ":"
GUIDE_KINDS = ("guide", "guide_match")
EXAMPLE = '"layer:block_13_expand_relu + 0.5*channel:block_12_expand_relu:37 - 0.1*tv"'
INDEX_RE = re.compile(r"\d+")  # a channel, neuron or class index
_MAX_TERMS = 64


@dataclass(frozen=True)
class Term:
    """One thing to measure. ``layer`` is None for tv, and for class until a model binds
    it to the layer feeding its head; ``key`` is a channel/neuron index or a class key."""

    kind: str
    layer: str | None = None  # None for the image's own terms (IMAGE_KINDS)
    key: int | str | None = None
    guide: str | None = None  # the guide image's path (guide terms)

    def __str__(self) -> str:
        if self.kind in IMAGE_KINDS:
            return self.kind
        if self.kind == "class":
            return f"class:{self.key}"
        if self.kind in GUIDE_KINDS:
            path = _quoted(self.guide)
            return f"{self.kind}:{self.layer}:{path}" if self.layer else f"{self.kind}:{path}"
        if self.kind == "layer":
            return f"layer:{self.layer}"
        return f"{self.kind}:{self.layer}:{self.key}"


@dataclass(frozen=True)
class Weight:
    """A term's weight on one frame: ``coef``, times ``schedule(frame)`` when there is one."""

    coef: float = 1.0
    schedule: Schedule | None = None

    def __call__(self, frame: int) -> float:
        return self.coef if self.schedule is None else self.coef * self.schedule(frame)

    def times(self, factor: float | Schedule) -> Weight:
        if isinstance(factor, Schedule):
            if self.schedule is not None:
                raise DreamreelError("an objective term can follow one schedule, not two")
            return Weight(self.coef, factor)
        return Weight(self.coef * float(factor), self.schedule)

    @property
    def constant(self) -> bool:
        return self.schedule is None


@dataclass(frozen=True)
class Objective:
    """A weighted sum of terms; compose with ``+``, ``-`` and ``*`` (a number or a
    Schedule). ``str()`` is the text form (a table when a weight follows a schedule)."""

    parts: tuple[tuple[Term, Weight], ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise DreamreelError(f"an objective needs at least one term, like {EXAMPLE}")
        if len(self.parts) > _MAX_TERMS:
            raise DreamreelError(f"an objective may have at most {_MAX_TERMS} terms")

    # ------------------------------------------------------------- composition
    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(_combined(self.parts + other.parts))

    def __neg__(self) -> Objective:
        return self * -1.0

    def __sub__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-other)

    def __mul__(self, factor: float | Schedule) -> Objective:
        if isinstance(factor, bool) or not isinstance(factor, (numbers.Real, Schedule)):
            return NotImplemented
        if isinstance(factor, numbers.Real) and not math.isfinite(float(factor)):
            raise DreamreelError(f"objective weights must be finite numbers, got {factor}")
        return Objective(tuple((term, weight.times(factor)) for term, weight in self.parts))

    __rmul__ = __mul__

    # ------------------------------------------------------------- reading
    @property
    def terms(self) -> tuple[Term, ...]:
        return tuple(term for term, _ in self.parts)

    def weights(self, frame: int = 0) -> list[float]:
        """One weight per term on ``frame`` (the engine takes them as a graph input)."""
        return [weight(frame) for _, weight in self.parts]

    def layer_names(self) -> list[str]:
        """The layers the terms read (class and default-layer guide terms excluded: a model
        binds those), in first-use order."""
        return list(dict.fromkeys(t.layer for t in self.terms if t.layer is not None))

    def guide_paths(self) -> list[str]:
        return list(dict.fromkeys(t.guide for t in self.terms if t.guide))

    def with_layers(self, class_layer: str | None, guide_layer: str | None) -> Objective:
        """Class terms read ``class_layer`` and guide terms without a layer read
        ``guide_layer`` (what a model's head and defaults say)."""

        def bound(term: Term) -> Term:
            if term.kind == "class" and term.layer is None:
                return Term("class", class_layer, term.key)
            if term.kind in GUIDE_KINDS and term.layer is None:
                return Term(term.kind, guide_layer, None, term.guide)
            return term

        return Objective(tuple((bound(term), weight) for term, weight in self.parts))

    def to_plain(self) -> str | dict[str, Any]:
        """The text form, or the table form when a weight follows a schedule (TOML-ready)."""
        if all(weight.constant for _, weight in self.parts):
            return str(self)
        table: dict[str, Any] = {}
        for term, weight in self.parts:
            # A factor stays in the key ("0.5*tv" = "0:(0), 60:(1)"): a schedule's text
            # (expressions, audio) cannot always be scaled in place.
            key = str(term) if weight.coef == 1 else f"{_number(weight.coef)}*{term}"
            if key in table:
                raise DreamreelError(
                    f"objective: {term} appears twice with schedules; give it one weight"
                )
            table[key] = weight.coef if weight.schedule is None else str(weight.schedule)
        return table

    def label(self, frame: int = 0, limit: int = 60) -> str:
        """The objective with ``frame``'s weights, for captions: "class:pug - 0.1*tv",
        cut to ``limit`` characters."""
        text = _sum_text((term, weight(frame)) for term, weight in self.parts)
        return text if len(text) <= limit else text[: limit - 3] + "..."

    def __str__(self) -> str:
        """The text form; a weight that follows a schedule shows as ``*<schedule>``
        (``to_plain`` gives the table that reads back)."""
        text = _sum_text((term, weight.coef) for term, weight in self.parts)
        for term, weight in self.parts:
            if weight.schedule is not None:
                text += f" (x <{weight.schedule}> on {term})"
        return text


def _sum_text(parts: Iterable[tuple[Term, float]]) -> str:
    text = ""
    for term, coef in parts:
        body = str(term) if abs(coef) == 1 else f"{_number(abs(coef))}*{term}"
        sign = "-" if coef < 0 else "+"
        text = f"{'-' if sign == '-' else ''}{body}" if not text else f"{text} {sign} {body}"
    return text


def _combined(parts: Iterable[tuple[Term, Weight]]) -> tuple[tuple[Term, Weight], ...]:
    """Equal terms with constant weights add up (layer:a + layer:a = 2*layer:a)."""
    merged: dict[Term, Weight] = {}
    rest: list[tuple[Term, Weight]] = []
    for term, weight in parts:
        if weight.constant and term in merged:
            merged[term] = Weight(merged[term].coef + weight.coef)
        elif weight.constant:
            merged[term] = weight
        else:
            rest.append((term, weight))
    return tuple(merged.items()) + tuple(rest)


def _number(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def _quoted(path: str | None) -> str:
    path = path or ""
    if any(c.isspace() for c in path) or any(c in path for c in "+*\"'"):
        return '"' + path.replace('"', '\\"') + '"'
    return path


# ----------------------------------------------------------------- constructors


def layer(name: str) -> Objective:
    return Objective(((Term("layer", _name(name, "layer")), Weight()),))


def channel(layer_name: str, index: int) -> Objective:
    return Objective(
        ((Term("channel", _name(layer_name, "channel"), _index(index, "channel")), Weight()),)
    )


def neuron(layer_name: str, index: int) -> Objective:
    return Objective(
        ((Term("neuron", _name(layer_name, "neuron"), _index(index, "neuron")), Weight()),)
    )


def class_logit(key: int | str) -> Objective:
    """A class by index or name (resolved against the model's labels when bound)."""
    if isinstance(key, bool) or not isinstance(key, (int, str)) or key == "":
        raise DreamreelError(f"class: expected a class index or name, got {key!r}")
    if isinstance(key, str) and INDEX_RE.fullmatch(key):
        key = int(key)
    if isinstance(key, int) and key < 0:
        raise DreamreelError(f"class: a class index must be >= 0, got {key}")
    return Objective(((Term("class", None, key), Weight()),))


def guide(image: str, layer_name: str | None = None, *, match: bool = False) -> Objective:
    """Toward a guide image's features: its mean feature direction, or with ``match``
    Google's per-position matching (guide_match)."""
    kind = "guide_match" if match else "guide"
    if not isinstance(image, str) or not image:
        raise DreamreelError(f"{kind}: expected the path of a guide image")
    name = None if layer_name is None else _name(layer_name, kind)
    return Objective(((Term(kind, name, None, image), Weight()),))


def tv() -> Objective:
    return Objective(((Term("tv"), Weight()),))


def temporal() -> Objective:
    return Objective(((Term("temporal"), Weight()),))


def from_layers(weights: Mapping[str, float | Schedule]) -> Objective:
    """The classic objective: each layer's mean activation, weighted (a number or a
    schedule per layer, as the ``layers`` table gives them)."""
    parts = []
    for name, weight in weights.items():
        w = Weight(1.0, weight) if isinstance(weight, Schedule) else Weight(float(weight))
        parts.append((Term("layer", _name(name, "layer")), w))
    return Objective(tuple(parts))


def _name(name: object, kind: str) -> str:
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
        raise DreamreelError(f"{kind}: expected a layer name without spaces, got {name!r}")
    return name


def _index(index: object, kind: str) -> int:
    if isinstance(index, bool) or not isinstance(index, numbers.Integral) or index < 0:
        raise DreamreelError(f"{kind}: expected a channel index >= 0, got {index!r}")
    return int(index)
