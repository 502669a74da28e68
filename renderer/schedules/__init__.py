"""Per-frame values: keyframe schedules in the Deforum syntax, their expressions and
audio features (one value a frame from a music track).

Knows no RenderSpec: imports only media/ (to read a track) and runtime/.
"""
