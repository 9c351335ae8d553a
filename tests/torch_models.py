"""The standard-library models that torchvision does not have, in plain
torch.nn: LeNet-5, MobileNet v1, U-Net and wide-and-deep, written from their
papers in the conventional PyTorch layouts named in docs/stdlib.md, so that
`state_dict()` keys are the parameter names `nndc` gives the same model in
the .nnd standard library. Every other standard-library model is checked
against torchvision's own builders (tests/tv.py), not a transcription.

Every function returns an `nn.Module` (call `.eval()` for inference) whose
`forward` computes what the .nnd model computes at inference. Used by
tests/test_stdlib.py (names, shapes, counts, small runs) and
tests/test_stdlib_equivalence.py (weights bound with strict `--weights`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["lenet5", "mobilenet_v1", "unet", "wide_and_deep", "MODELS"]


# ---------------------------------------------------------------- LeNet-5

class LeNet5(nn.Module):
    """LeCun et al. (1998) on 32x32 inputs: tanh, average pooling, softmax."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return torch.softmax(self.fc3(x), dim=1)


def lenet5(num_classes: int = 10) -> nn.Module:
    return LeNet5(num_classes)


# ---------------------------------------------------------------- MobileNet v1

MOBILENET_V1_CFG = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    """Howard et al. (2017), width 1.0, in the common PyTorch layout
    (`model.0` the stem conv-bn-relu, `model.1`..`model.13` depthwise-separable
    units as Sequential(dw conv, bn, relu, pw conv, bn, relu), `fc`),
    global average pooling in place of the 7x7 average pool."""

    def __init__(self, num_classes=1000, width=1.0):
        super().__init__()

        def c(ch):
            return int(ch * width)

        layers = [nn.Sequential(nn.Conv2d(3, c(32), 3, 2, 1, bias=False), nn.BatchNorm2d(c(32)),
                                nn.ReLU(inplace=True))]
        cin = c(32)
        for cout, stride in MOBILENET_V1_CFG:
            layers.append(nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
                nn.Conv2d(cin, c(cout), 1, 1, 0, bias=False), nn.BatchNorm2d(c(cout)), nn.ReLU(inplace=True)))
            cin = c(cout)
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.model = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.model(x), 1))


def mobilenet_v1(num_classes=1000, width=1.0): return MobileNetV1(num_classes, width)


# ---------------------------------------------------------------- U-Net

class DoubleConv(nn.Module):
    """Two padded 3x3 convolutions with ReLU: Ronneberger's (biased, no
    normalization) or, with batch_norm, Pytorch-UNet's (bias-free, BatchNorm)."""

    def __init__(self, cin, cout, mid=None, batch_norm=False):
        super().__init__()
        mid = mid or cout
        layers: list[nn.Module] = []
        for a, b in ((cin, mid), (mid, cout)):
            layers.append(nn.Conv2d(a, b, kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.ReLU(inplace=True))
        self.double_conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, cin, cout, batch_norm=False):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cout, batch_norm=batch_norm))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """The transposed-convolution variant (bilinear=False)."""

    def __init__(self, cin, cout, batch_norm=False):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(cin, cout, batch_norm=batch_norm)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        dy, dx = x2.size(2) - x1.size(2), x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class OutConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=1)

    def forward(self, x):
        return self.conv(x)


class UNet(nn.Module):
    """Ronneberger et al. (2015) with padded convolutions, in the module
    layout of the widely used Pytorch-UNet (milesial) with bilinear=False
    (transposed-convolution upsampling). batch_norm=False is the paper's
    convolutions (biased, no normalization): 31,030,658 parameters for 1 input
    channel and 2 classes; batch_norm=True is Pytorch-UNet's DoubleConv
    (bias-free convolutions with BatchNorm): 31,036,546."""

    def __init__(self, n_channels=1, n_classes=2, base=64, batch_norm=False):
        super().__init__()
        bn = batch_norm
        self.inc = DoubleConv(n_channels, base, batch_norm=bn)
        self.down1 = Down(base, base * 2, bn)
        self.down2 = Down(base * 2, base * 4, bn)
        self.down3 = Down(base * 4, base * 8, bn)
        self.down4 = Down(base * 8, base * 16, bn)
        self.up1 = Up(base * 16, base * 8, bn)
        self.up2 = Up(base * 8, base * 4, bn)
        self.up3 = Up(base * 4, base * 2, bn)
        self.up4 = Up(base * 2, base, bn)
        self.outc = OutConv(base, n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


def unet(n_channels=1, n_classes=2, base=64, batch_norm=False): return UNet(n_channels, n_classes, base, batch_norm)


# ---------------------------------------------------------------- wide and deep

class WideAndDeep(nn.Module):
    """Two inputs (5 wide, 6 deep features), a main and an auxiliary output
    (Géron's wide-and-deep regression network)."""

    def __init__(self, wide=5, deep=6, hidden=30):
        super().__init__()
        self.hidden1 = nn.Linear(deep, hidden)
        self.hidden2 = nn.Linear(hidden, hidden)
        self.main_output = nn.Linear(wide + hidden, 1)
        self.aux_output = nn.Linear(hidden, 1)

    def forward(self, wide, deep):
        h = F.relu(self.hidden2(F.relu(self.hidden1(deep))))
        return self.main_output(torch.cat([wide, h], 1)), self.aux_output(h)


def wide_and_deep(): return WideAndDeep()


# The registry the tests walk: function name -> constructor.
MODELS = {name: globals()[name] for name in __all__ if name != "MODELS"}
