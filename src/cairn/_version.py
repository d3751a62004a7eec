"""cairn's version: one place, read by the build (hatch), the package and `cairn --version`."""

__version__ = "0.1.0"
