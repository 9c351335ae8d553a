"""`import nnd.torch`: the model as a torch.nn.Module, to train it (see
torch_module.py; needs torch: pip install 'nnd[train]')."""

from .torch_module import NndModule, module  # noqa: F401

__all__ = ["module", "NndModule"]
