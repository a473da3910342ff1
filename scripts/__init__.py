"""The project's scripts, grouped by purpose as basicsr's are; importable (`python -m scripts.benchmarks.NAME`,
and from the tests). Importing igan_basicsr first makes basicsr importable on current torchvision and registers
IGAN and the models for every script below."""
import igan_basicsr  # noqa: F401
