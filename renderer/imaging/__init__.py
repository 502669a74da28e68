"""Pictures in, pictures or numbers out: optical flow and warping, the stability meter,
captions, contact sheets, the loss plot and seeded noise (numpy, OpenCV, Pillow).

Imports only media/ and runtime/: never a spec, the store, the engine or the CLI.
"""
