"""The shipped modes, registered: import this module (not ``base``) to look a mode up.

Each mode module registers its class with ``@register`` when imported; importing them
all here, above ``base``, keeps the registry free of imports back into the modes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import morph, progress, video, zoom  # noqa: F401  (each registers its mode)
from .base import MODES

if TYPE_CHECKING:
    from ..spec import RenderSpec
    from .base import Mode

__all__ = ["MODES", "create_mode", "mode_class"]


def mode_class(name: str) -> type:
    return MODES.get(name)


def create_mode(spec: RenderSpec) -> Mode:
    """The mode object for ``spec`` (opens its input: a clip, a photo)."""
    return mode_class(spec.mode)(spec)
