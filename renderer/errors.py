"""The one error type a user can cause and fix (bad file, key, layer, no weights offline)."""


class DreamreelError(Exception):
    """Printed by the CLI as a single line, without a traceback."""
