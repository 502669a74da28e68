"""One gradient step per Keras backend (TensorFlow, JAX, PyTorch) over the same tile grid
and jitter shifts.
"""
