"""Network definitions for training (PyTorch). Never imported by the runtime."""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class EmoVGG(nn.Module):
    """VGG-style network with BatchNorm for 48x48 grayscale faces.

    Four stages of ``convs[i]`` 3x3 convolutions at ``widths[i]`` channels,
    each stage followed by 2x2 max pooling (48 -> 24 -> 12 -> 6 -> 3), then a
    small fully connected head over the 3x3 feature map.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        convs: tuple[int, ...] = (2, 2, 2, 2),
        hidden: int = 256,
        dropout: float = 0.4,
        num_classes: int = 7,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for w, n in zip(widths, convs, strict=True):
            for _ in range(n):
                layers += _conv_bn(cin, w)
                cin = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = 48 // 2 ** len(widths)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(cin * side * side, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class OriginalNet(nn.Module):
    """The original FaceEmotionClassifier network (Keras), rebuilt in PyTorch.

    conv1x1(32) - conv5x5(32) - pool - conv3x3(32) - pool - conv5x5(64) - pool -
    dense 2048 - dropout .5 - dense 1024 - dropout .5 - dense 7; ReLU throughout,
    no BatchNorm.
    """

    def __init__(self, num_classes: int = 7) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 6 * 6, 2048), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(2048, 1024), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


ARCHITECTURES = {
    "emovgg": lambda: EmoVGG(),
    "emovgg-wide": lambda: EmoVGG(widths=(48, 96, 192, 384)),
    "emovgg-deep": lambda: EmoVGG(widths=(32, 64, 128, 256), convs=(2, 2, 3, 3)),
    "emovgg-l": lambda: EmoVGG(widths=(40, 80, 160, 320), convs=(2, 2, 3, 3)),
    # one convolution at full resolution, three in each of the last two stages: deeper than emovgg at about
    # the same cost (the 48x48 stage is the slowest per multiply-add on the CPU)
    "emovgg-d": lambda: EmoVGG(widths=(32, 64, 128, 256), convs=(1, 2, 3, 3)),
    # one convolution at full resolution like emovgg-d, wider late stages (160 and 384 channels at 12x12 and
    # 6x6, where a multiply-add is cheapest on the CPU): 1.8x the parameters of emovgg at 1.25x its time per face
    "emovgg-w": lambda: EmoVGG(widths=(32, 64, 160, 384), convs=(1, 2, 2, 2)),
    # emovgg-w widened again at 12x12 and 6x6 (4.1 M parameters): 1.27x its training step time on this CPU
    "emovgg-x": lambda: EmoVGG(widths=(32, 64, 192, 448), convs=(1, 2, 2, 2)),
    "original": lambda: OriginalNet(),
}


def build_model(name: str) -> nn.Module:
    try:
        return ARCHITECTURES[name]()
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}") from None
