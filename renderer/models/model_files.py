"""A user's own model file, told from a registered name by its suffix."""

MODEL_FILE_SUFFIXES = (".keras", ".h5")


def is_model_file(model: str) -> bool:
    return model.lower().endswith(MODEL_FILE_SUFFIXES)
