"""``dreamreel import-deforum SETTINGS``: a Deforum settings file as a zoom preset on stdout.

renderer/rendering/deforum_settings.py maps the keys; the preset is loaded here as
``dreamreel render`` would load it before it is printed, so what is printed renders.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..runtime.errors import DreamreelError


def cmd_import_deforum(args) -> int:
    # lazy: the spec loads numpy and OpenCV, which the CLI's other light commands never need
    from ..rendering.deforum_settings import deforum_to_toml, read_settings
    from ..rendering.spec import load_spec

    settings = read_settings(args.settings)
    text = deforum_to_toml(settings, Path(args.settings).name)
    with tempfile.TemporaryDirectory(prefix="dreamreel-deforum-") as folder:
        preset = Path(folder) / "deforum.toml"
        preset.write_text(text, encoding="utf-8")
        try:
            load_spec(str(preset))
        except DreamreelError as exc:
            raise DreamreelError(f"the imported preset does not load: {exc}") from None
    print(text, end="")
    return 0
