"""Media in and out: still images, video clips and frame folders, MP4 and GIF."""
