"""``python -m renderer.cli``: the ``dreamreel`` command without its installed script."""

from .main import main

raise SystemExit(main())
