"""The bundled sandbox: a synthetic laundering scenario with ground truth (see generator.py)."""

from pathlib import Path

SANDBOX_DIR = Path(__file__).parent / "data"
