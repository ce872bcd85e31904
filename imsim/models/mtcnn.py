"""MTCNN's three face-detection CNNs (PNet, RNet, ONet) with the real weights that PyPI
`facenet-pytorch` ships (facenet_pytorch/data/{pnet,rnet,onet}.pt), in plain torch.

The networks are written here from the published architecture (Zhang et al., 2016, "Joint Face
Detection and Alignment using Multi-task Cascaded Convolutional Networks"); the package is
never imported (it imports torchvision): only its state-dict files are located through the
installed distribution's file list and loaded with `torch.load(weights_only=True)`. Offline.

The input image is **procedurally generated** (`face_image`): a deterministic drawing of a
face-like ellipse with eyes and a mouth on a shaded background plus seeded noise. No image
ships with imsim; the weights are real, the activations are those of this drawing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imsim.models.package_files import installed_file

DIST = "facenet-pytorch"
WEIGHTS = {"pnet": "facenet_pytorch/data/pnet.pt", "rnet": "facenet_pytorch/data/rnet.pt",
           "onet": "facenet_pytorch/data/onet.pt"}
INSTALL = "pip install --no-deps facenet-pytorch==2.6.0 (with the torch extra)"


def weight_file(net: str) -> Path:
    """Path of one network's state dict inside the installed facenet-pytorch."""
    return installed_file(DIST, WEIGHTS[net], INSTALL, "the MTCNN weights")


def _nets():
    import torch
    from torch import nn

    def flat(x):  # the weights come from Caffe: flatten in (W, H, C) order like the original
        return x.permute(0, 3, 2, 1).contiguous().flatten(1)

    class PNet(nn.Module):
        """Proposal net, fully convolutional: 12x12 windows -> face probability + box offsets."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
            self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
            self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
            self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
            self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

        def forward(self, x):
            x = self.pool1(self.prelu1(self.conv1(x)))
            x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
            return torch.softmax(self.conv4_1(x), dim=1), self.conv4_2(x)

    class RNet(nn.Module):
        """Refine net: 24x24 crops -> face probability + box offsets."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
            self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
            self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
            self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
            self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

        def forward(self, x):
            x = self.pool1(self.prelu1(self.conv1(x)))
            x = self.pool2(self.prelu2(self.conv2(x)))
            x = self.prelu4(self.dense4(flat(self.prelu3(self.conv3(x)))))
            return torch.softmax(self.dense5_1(x), dim=1), self.dense5_2(x)

    class ONet(nn.Module):
        """Output net: 48x48 crops -> face probability, box offsets, 5 landmarks."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
            self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
            self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
            self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
            self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
            self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
            self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
            self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

        def forward(self, x):
            x = self.pool1(self.prelu1(self.conv1(x)))
            x = self.pool2(self.prelu2(self.conv2(x)))
            x = self.pool3(self.prelu3(self.conv3(x)))
            x = self.prelu5(self.dense5(flat(self.prelu4(self.conv4(x)))))
            return torch.softmax(self.dense6_1(x), dim=1), self.dense6_2(x), self.dense6_3(x)

    return {"pnet": PNet, "rnet": RNet, "onet": ONet}


def load_mtcnn():
    """An nn.Module holding `pnet`, `rnet`, `onet` with facenet-pytorch's weights (eval mode)."""
    import torch
    from torch import nn

    classes = _nets()
    model = nn.Module()
    for name, cls in classes.items():
        net = cls()
        state = torch.load(weight_file(name), map_location="cpu", weights_only=True)
        net.load_state_dict(state)  # strict: every weight of the file is used, none is missing
        setattr(model, name, net.eval())
    return model.eval()


def face_image(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A procedurally generated RGB image (3, H, W), float32 in [0, 255]: shaded background, a
    skin-coloured face ellipse, darker eyes, brows and mouth, seeded Gaussian noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((3, height, width), np.float32)
    for c, (a, b) in enumerate(((60, 90), (80, 70), (110, 60))):  # background gradient per channel
        img[c] = a + b * (x / width) * (0.6 + 0.4 * y / height)
    cy, cx, ry, rx = 0.5 * height, 0.45 * width, 0.36 * height, 0.22 * width

    def ellipse(py, px, sy, sx):
        return ((y - py) / sy) ** 2 + ((x - px) / sx) ** 2 <= 1.0

    face = ellipse(cy, cx, ry, rx)
    shade = 1.0 - 0.25 * ((x - cx) / rx).clip(-1, 1)
    for c, tone in enumerate((224, 172, 140)):
        img[c][face] = (tone * shade)[face]
    dark = [ellipse(cy - 0.25 * ry, cx - 0.4 * rx, 0.08 * ry, 0.18 * rx),     # eyes
            ellipse(cy - 0.25 * ry, cx + 0.4 * rx, 0.08 * ry, 0.18 * rx),
            ellipse(cy - 0.45 * ry, cx - 0.4 * rx, 0.03 * ry, 0.25 * rx),     # brows
            ellipse(cy - 0.45 * ry, cx + 0.4 * rx, 0.03 * ry, 0.25 * rx),
            ellipse(cy + 0.45 * ry, cx, 0.07 * ry, 0.35 * rx)]                # mouth
    for mask in dark:
        img[:, mask] = np.array([70, 40, 40], np.float32)[:, None]
    img += rng.normal(0.0, 6.0, img.shape).astype(np.float32)
    return img.clip(0, 255)


def crops(img: np.ndarray, size: int, count: int, seed: int = 0) -> np.ndarray:
    """`count` square windows around the face (jittered, seeded), resized to size x size by
    nearest-neighbour sampling, as MTCNN's later stages see candidate boxes: (count, 3, size, size)."""
    rng = np.random.default_rng(seed)
    _, h, w = img.shape
    out = np.empty((count, 3, size, size), np.float32)
    for i in range(count):
        side = int(min(h, w) * rng.uniform(0.5, 0.9))
        top = int(rng.integers(0, h - side + 1))
        left = int(rng.integers(0, w - side + 1))
        idx = (np.arange(size) * side / size).astype(int)
        out[i] = img[:, top + idx][:, :, left + idx]
    return out


def capture_mtcnn(height: int = 96, width: int = 128, rnet_crops: int = 8, onet_crops: int = 4,
                  backward: bool = True, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """Capture MTCNN on the procedurally generated image: PNet on the whole image, RNet on
    `rnet_crops` 24x24 windows, ONet on `onet_crops` 48x48 windows (MTCNN's normalisation
    (x - 127.5) / 128). With `backward`, the gradients of MTCNN's training loss (face
    cross-entropy towards "face" + squared box offsets and landmarks) follow.
    Returns (trace, info)."""
    import torch

    from imsim.trace.capture import capture_gemms

    model = load_mtcnn()
    img = face_image(height, width, seed)
    norm = lambda a: torch.from_numpy((a - 127.5) * 0.0078125)  # noqa: E731
    x_p, x_r, x_o = norm(img[None]), norm(crops(img, 24, rnet_crops, seed)), norm(crops(img, 48, onet_crops, seed + 1))

    def step():
        loss = torch.zeros(())
        for net, x in ((model.pnet, x_p), (model.rnet, x_r), (model.onet, x_o)):
            prob, *regs = net(x)
            loss = loss - torch.log(prob[:, 1].clamp_min(1e-6)).mean()
            loss = loss + sum((r ** 2).mean() for r in regs)
        return loss

    if not backward:
        for p in model.parameters():
            p.requires_grad_(False)
    trace = capture_gemms(model, step, model_name="mtcnn", backward=backward)
    info = {"model": "mtcnn (facenet-pytorch weights)", "image": f"procedurally generated {height}x{width} (seed {seed})",
            "gemms": len(trace), "macs": trace.macs, "rnet_crops": rnet_crops, "onet_crops": onet_crops,
            "skipped_ops": dict(trace.meta.get("skipped_ops", {}))}
    return trace, info
