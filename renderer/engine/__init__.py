"""The dream itself, arrays in and arrays out: objectives as values, the tiled gradient
ascent and its per-backend steps, the compiled-step cache, the octave dream, numeric faults
and FLOP counts.

Never imports rendering/ (specs), store/ (frames, files), media/, imaging/, distributed/ or
cli/: guide images arrive as arrays.
"""
