"""The process around a render, below every other wing: which Keras backend to load
(chosen without loading a gradient step), the device TensorFlow uses, TensorFlow imported
quietly, Ctrl-C and SIGTERM, heap tuning, atomic files, the one error type and the version.

Never imports another wing of the package.
"""
