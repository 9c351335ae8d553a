"""The standard library's architectures in plain torch.nn, with torchvision's
module names, so that `state_dict()` keys are the parameter names `nndc`
gives the same model in the .nnd standard library.

torchvision itself cannot be imported beside this torch, so these are
transcriptions of its model definitions (torchvision 0.15+ layouts: ResNet
v1.5 with the stride on the 3x3 convolution, DenseNet's `denselayerN.norm1`
keys, GoogLeNet with its BasicConv2d = conv(bias=False) + bn(eps=0.001) and
the 3x3 convolution in the Inception module's third branch). MobileNet v1,
U-Net, LeNet-5 and wide-and-deep are not in torchvision; their layouts are
the conventional PyTorch ones named in docs/stdlib.md.

Every function returns an `nn.Module` in eval mode's layout (call `.eval()`
for inference); each model's `forward` computes what the .nnd model computes
at inference. Used by tests/test_stdlib.py (names, shapes, counts) and meant
for numerical-equivalence tests of the compiled ONNX models.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "lenet5", "alexnet",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "wide_resnet50_2",
    "googlenet", "densenet121", "densenet161", "densenet169", "densenet201",
    "mobilenet_v1", "unet", "wide_and_deep", "MODELS",
]


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


# ---------------------------------------------------------------- AlexNet

class AlexNet(nn.Module):
    """torchvision.models.AlexNet (the one-GPU variant of Krizhevsky's)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def alexnet(num_classes: int = 1000) -> nn.Module:
    return AlexNet(num_classes)


# ---------------------------------------------------------------- VGG

VGG_CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """torchvision.models.VGG: `features` is one flat Sequential."""

    def __init__(self, cfg: list, batch_norm: bool = False, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers.append(nn.Conv2d(cin, v, kernel_size=3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(v))
                layers.append(nn.ReLU(inplace=True))
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg11(num_classes=1000): return VGG(VGG_CFGS["A"], False, num_classes)
def vgg13(num_classes=1000): return VGG(VGG_CFGS["B"], False, num_classes)
def vgg16(num_classes=1000): return VGG(VGG_CFGS["D"], False, num_classes)
def vgg19(num_classes=1000): return VGG(VGG_CFGS["E"], False, num_classes)
def vgg11_bn(num_classes=1000): return VGG(VGG_CFGS["A"], True, num_classes)
def vgg13_bn(num_classes=1000): return VGG(VGG_CFGS["B"], True, num_classes)
def vgg16_bn(num_classes=1000): return VGG(VGG_CFGS["D"], True, num_classes)
def vgg19_bn(num_classes=1000): return VGG(VGG_CFGS["E"], True, num_classes)


# ---------------------------------------------------------------- ResNet

def _conv3x3(cin, cout, stride=1, groups=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)


def _conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet v1.5: the stride is on the 3x3 convolution."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = _conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, groups=1, width_per_group=64):
        super().__init__()
        self.inplanes = 64
        self.groups, self.base_width = groups, width_per_group
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes=1000): return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)
def resnet34(num_classes=1000): return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)
def resnet50(num_classes=1000): return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)
def resnet101(num_classes=1000): return ResNet(Bottleneck, [3, 4, 23, 3], num_classes)
def resnet152(num_classes=1000): return ResNet(Bottleneck, [3, 8, 36, 3], num_classes)
def resnext50_32x4d(num_classes=1000): return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, 32, 4)
def wide_resnet50_2(num_classes=1000): return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, 1, 128)


# ---------------------------------------------------------------- GoogLeNet

class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(cin, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        # torchvision's known deviation: 3x3 where the paper has 5x5.
        self.branch3 = nn.Sequential(BasicConv2d(cin, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(cin, pool_proj, kernel_size=1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    def __init__(self, cin, num_classes, dropout=0.7):
        super().__init__()
        self.conv = BasicConv2d(cin, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))
        x = F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)
        return self.fc2(self.dropout(x))


class GoogLeNet(nn.Module):
    """torchvision.models.GoogLeNet with transform_input=False. With
    aux_logits, forward returns (logits, aux1, aux2) in any mode (torchvision
    returns the auxiliary outputs only in training mode)."""

    def __init__(self, num_classes=1000, aux_logits=False, dropout=0.2, dropout_aux=0.7):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout_aux)
            self.aux2 = InceptionAux(528, num_classes, dropout_aux)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return x if aux1 is None else (x, aux1, aux2)


def googlenet(num_classes=1000, aux_logits=False): return GoogLeNet(num_classes, aux_logits)


# ---------------------------------------------------------------- DenseNet

class _DenseLayer(nn.Module):
    def __init__(self, cin, growth_rate, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)

    def forward(self, features: list):
        x = torch.cat(features, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class _DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers, cin, bn_size, growth_rate):
        super().__init__()
        for i in range(num_layers):
            self.add_module("denselayer%d" % (i + 1), _DenseLayer(cin + i * growth_rate, growth_rate, bn_size))

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class _Transition(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(cin, cout, kernel_size=1, stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64, bn_size=4,
                 num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))
        c = num_init_features
        for i, n in enumerate(block_config):
            self.features.add_module("denseblock%d" % (i + 1), _DenseBlock(n, c, bn_size, growth_rate))
            c += n * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module("transition%d" % (i + 1), _Transition(c, c // 2))
                c //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(c))
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        x = F.relu(self.features(x))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


def densenet121(num_classes=1000): return DenseNet(32, (6, 12, 24, 16), 64, num_classes=num_classes)
def densenet161(num_classes=1000): return DenseNet(48, (6, 12, 36, 24), 96, num_classes=num_classes)
def densenet169(num_classes=1000): return DenseNet(32, (6, 12, 32, 32), 64, num_classes=num_classes)
def densenet201(num_classes=1000): return DenseNet(32, (6, 12, 48, 32), 64, num_classes=num_classes)


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
