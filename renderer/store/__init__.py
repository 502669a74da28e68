"""A render's folder: the frame store, the loss log, the manifest, the folder lock, the
folder a failed render leaves no trace of, and render folders at URLs (fsspec).

Knows no mode, no spec class and no engine: it stores what it is handed.
"""
