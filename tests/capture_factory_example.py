"""A factory module for tests/test_trace_factory.py (`imsim capture module capture_factory_example:make`)."""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x, scale):
        self.y = self.conv(x)                      # (B, 4, L)
        return self.fc(self.y.transpose(1, 2)) * scale


def make():
    torch.manual_seed(0)
    return Net().double(), (torch.randn(2, 3, 5, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))


def not_a_factory():
    return 42
