"""``dreamreel info FILE``: the recipe a render's output carries, as TOML on stdout.

FILE is a frame PNG, the GIF or the MP4 of a render, its manifest.json or its folder
(renderer/rendering/recipe.py reads them). The TOML comes after its comment lines
(dreamreel's version, the preset's name, the model, the seed): saved to a file, it is a
preset ``dreamreel render`` takes, and ``dreamreel render FILE`` renders it directly.
"""

from __future__ import annotations


def cmd_info(args) -> int:
    from ..rendering.recipe import read_recipe  # lazy: loads numpy

    recipe = read_recipe(args.file)
    recipe.table()  # TOML that does not read back: one line, not a recipe to copy
    print(recipe.text, end="")
    return 0
