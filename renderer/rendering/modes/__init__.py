"""Animation modes (zoom, video, progress, morph): what each frame's dream starts from and
what a finished frame is. ``base`` holds the protocol and the registry; ``builtin``
registers the shipped modes.
"""
