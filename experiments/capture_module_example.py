"""An example factory for `imsim capture module` (docs/traces.md):

    imsim capture module experiments/capture_module_example.py:tiny_cnn --backward --out traces/tiny_cnn

`tiny_cnn()` returns (module, example inputs, loss_fn): a small Conv2d -> Conv1d -> Linear net
with seeded weights and a seeded input batch.
"""
import torch
from torch import nn


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.depthwise = nn.Conv1d(8, 8, 3, padding=1, groups=8)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        h = torch.relu(self.conv(x))              # (B, 8, H/2, W/2)
        h = torch.relu(self.depthwise(h.flatten(2)))  # (B, 8, H*W/4)
        return self.head(h.mean(-1))              # (B, 10)


def tiny_cnn():
    torch.manual_seed(0)
    return TinyCNN(), (torch.randn(2, 3, 16, 16),), lambda logits: logits.logsumexp(-1).mean()
