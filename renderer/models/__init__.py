"""The networks a dream runs on: the registry with its builders as one table, loading
(a name or a .keras/.h5 file), the embedded default model, class labels and layer names
(known without TensorFlow), per-family preprocessing.

Never imports the engine, a spec, the store, media or the CLI.
"""
