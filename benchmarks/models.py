"""The benchmark networks, twice: as .nnd source and as torch.nn modules.

Layer names in the .nnd text are torchvision's module names (`layer1.0.conv1`,
`features.0`, `classifier.6`), so one set of weights fits both sides by name.
torch is imported only by the torch-side functions.
"""

from __future__ import annotations

import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name -> input shape (batch first; the .nnd source has N there)
INPUTS = {
    "lenet5": (1, 1, 32, 32),
    "resnet50": (1, 3, 224, 224),
    "vgg16": (1, 3, 224, 224),
}
CHAIN_INPUT = (1, 3, 32, 32)


# ------------------------------------------------------------------ nnd side

def lenet5_nnd() -> str:
    with open(os.path.join(ROOT, "examples", "lenet5.nnd"), encoding="utf-8") as f:
        return f.read()


_RESNET_BLOCK = """\
block Bottleneck(planes, stride = 1, down = false) {
    input x
    y = x -> Conv2d(planes, 1, bias = false) as conv1 -> BatchNorm2d as bn1 -> ReLU
          -> Conv2d(planes, 3, stride = stride, padding = 1, bias = false) as conv2 -> BatchNorm2d as bn2 -> ReLU
          -> Conv2d(planes * 4, 1, bias = false) as conv3 -> BatchNorm2d as bn3
    if down {
        s = x -> Conv2d(planes * 4, 1, stride = stride, bias = false) as downsample.0
              -> BatchNorm2d as downsample.1
    } else {
        s = x
    }
    output out = (y + s) -> ReLU
}
"""


def resnet50_nnd() -> str:
    stages = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]
    body = []
    for li, (planes, n, stride) in enumerate(stages, 1):
        for i in range(n):
            args = f"{planes}, {stride}, true" if i == 0 else f"{planes}"
            body.append(f"        -> Bottleneck({args}) as layer{li}.{i}")
    return (_RESNET_BLOCK + "\nmodel ResNet50(classes = 1000) {\n"
            "    input image: [N, 3, 224, 224]\n"
            "    output logits = image\n"
            "        -> Conv2d(64, 7, stride = 2, padding = 3, bias = false) as conv1 -> BatchNorm2d as bn1 -> ReLU\n"
            "        -> MaxPool2d(3, stride = 2, padding = 1)\n"
            + "\n".join(body) + "\n"
            "        -> GlobalAvgPool -> Flatten -> Linear(classes) as fc\n"
            "}\n")


VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16_nnd() -> str:
    lines, i = [], 0
    for v in VGG16_CFG:
        if v == "M":
            lines.append("        -> MaxPool2d(2)")
            i += 1
        else:
            lines.append(f"        -> Conv2d({v}, 3, padding = 1) as features.{i} -> ReLU")
            i += 2
    return ("model VGG16(classes = 1000) {\n"
            "    input image: [N, 3, 224, 224]\n"
            "    output logits = image\n"
            + "\n".join(lines) + "\n"
            "        -> Flatten\n"
            "        -> Linear(4096) as classifier.0 -> ReLU -> Dropout(0.5)\n"
            "        -> Linear(4096) as classifier.3 -> ReLU -> Dropout(0.5)\n"
            "        -> Linear(classes) as classifier.6\n"
            "}\n")


def chain_nnd(n: int) -> str:
    """`x -> Conv2d(16, 3, padding = 1) -> ReLU`, n times, one stage a line."""
    stages = "".join("        -> Conv2d(16, 3, padding = 1) -> ReLU\n" for _ in range(n))
    return (f"model Chain{n} {{\n    input x: [N, {CHAIN_INPUT[1]}, {CHAIN_INPUT[2]}, {CHAIN_INPUT[3]}]\n"
            f"    output y = x\n{stages}}}\n")


def nnd_source(name: str) -> str:
    if name.startswith("chain"):
        return chain_nnd(int(name[5:]))
    return {"lenet5": lenet5_nnd, "resnet50": resnet50_nnd, "vgg16": vgg16_nnd}[name]()


def input_shape(name: str, batch: int = 1) -> tuple:
    shape = CHAIN_INPUT if name.startswith("chain") else INPUTS[name]
    return (batch,) + tuple(shape[1:])


# ---------------------------------------------------------------- torch side
# Kept as a source string too: the compile-time benchmark runs it as the
# script a PyTorch user would write (define the model, export it).

TORCH_SOURCE = '''
import torch
from torch import nn


class LeNet5(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = nn.functional.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = nn.functional.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return torch.softmax(self.fc3(x), dim=1)


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride=1, down=False):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                        nn.BatchNorm2d(planes * 4)) if down else None

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        s = self.downsample(x) if self.downsample is not None else x
        return self.relu(y + s)


class ResNet50(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for li, (planes, n, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)], 1):
            blocks = []
            for i in range(n):
                blocks.append(Bottleneck(inplanes, planes, stride if i == 0 else 1, i == 0))
                inplanes = planes * 4
            setattr(self, f"layer{li}", nn.Sequential(*blocks))
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG16(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        layers, c = [], 3
        for v in VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(4096, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def Chain(n, c_in=3):
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(c_in if i == 0 else 16, 16, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


def build(name):
    if name.startswith("chain"):
        return Chain(int(name[5:]))
    return {"lenet5": LeNet5, "resnet50": ResNet50, "vgg16": VGG16}[name]()
'''


def torch_namespace() -> dict:
    ns: dict = {}
    exec(compile(TORCH_SOURCE, "<benchmarks.models torch>", "exec"), ns)   # noqa: S102 - our own source
    return ns


def torch_model(name: str):
    return torch_namespace()["build"](name).eval()


def nnd_arrays(name: str, seed: int = 0) -> dict:
    """The weights nnd gives this network (name -> float32 array), unoptimized."""
    import nnd.api as api
    ir, _ = api.build(text=nnd_source(name), seed=seed, optimize=False)
    out = {}
    for n in ir.order():
        d = ir.node(n)
        for k, a in (d.get("arrays") or {}).items():
            out[f"{d['name']}.{k}"] = a
    return out


def load_into_torch(model, arrays: dict) -> None:
    """Copy nnd's weights into the torch model: by name, or for a chain (whose
    nnd layers are named conv2d_0, conv2d_1, ...) by order, shapes checked."""
    import torch
    sd = model.state_dict()
    keys = [k for k in sd if not k.endswith("num_batches_tracked")]
    if all(k in arrays for k in keys):
        pairs = [(k, arrays[k]) for k in keys]
    else:
        vals = list(arrays.values())
        if len(vals) != len(keys):
            raise ValueError(f"{len(vals)} nnd arrays for {len(keys)} torch tensors")
        pairs = list(zip(keys, vals))
    new = {}
    for k, a in pairs:
        if tuple(sd[k].shape) != tuple(a.shape):
            raise ValueError(f"{k}: torch {tuple(sd[k].shape)} vs nnd {tuple(a.shape)}")
        new[k] = torch.from_numpy(a.copy())
    model.load_state_dict(new, strict=False)
