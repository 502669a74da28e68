"""One render from a spec to a folder: the spec (presets, TOML, --set), seeds, the
render's identity, schedule binding, masks, preflight, the frame loop with its pipelined
queues, the stage clock, stitching, and modes/.

Imports the wings below it (store, engine, models, schedules, imaging, media, runtime);
never distributed/ or cli/.
"""
