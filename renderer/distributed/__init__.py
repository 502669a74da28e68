"""Many renders at once: batch jobs files and their runs (in this process or as Ray tasks),
and long clips in chunks (the plan, each chunk's render, the assembly from frames or
from parts the workers encoded).

Takes a progress interface from its caller; never imports cli/.
"""
