"""The ``dreamreel`` command line: commands and their flags, the shorthand flags, progress
bars, ``doctor``, ``bench`` and ``stability``. Nothing in the package imports it.
"""
