"""Face detection with MTCNN (Zhang et al. 2016): a box and five landmarks per face.

The weights are the ``pnet/rnet/onet.pt`` state dicts inside the ``facenet-pytorch`` 2.6.0 wheel
(MIT), fetched from PyPI like the zoo's models (pinned checksums, read with ``weights_only``). Its
code is not used: the package needs torchvision and pins an old torch, so the three small networks
and the cascade are written here after its ``detect_face`` (same thresholds, pyramid factor and
box arithmetic), with plain numpy non-maximum suppression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LowRankGANError
from ..models.zoo import ZooEntry, fetch, read_state, sha256_file

_WHEEL = dict(package="facenet-pytorch", version="2.6.0", license="MIT",
              wheel_sha256="ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca", state_key=None,
              arch="mtcnn")
MTCNN_WEIGHTS = {
    name: ZooEntry(name=f"mtcnn-{name}", description=f"MTCNN {name.upper()} (facenet-pytorch)",
                   member=f"facenet_pytorch/data/{name}.pt", member_sha256=sha, **_WHEEL)
    for name, sha in (("pnet", "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f"),
                      ("rnet", "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86"),
                      ("onet", "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"))}
THRESHOLDS = (0.6, 0.7, 0.7)
FACTOR = 0.709


@dataclass
class Face:
    box: np.ndarray  # x0, y0, x1, y1 in photo pixels
    score: float
    landmarks: np.ndarray  # [5, 2]: left eye, right eye, nose, left and right mouth corner (as seen)


def _stage(layers: list[tuple[str, nn.Module]]) -> nn.Sequential:
    return nn.Sequential(dict(layers))  # type: ignore[arg-type]


class _Net(nn.Module):
    """One MTCNN stage: a conv trunk, then (R/O) a dense head; outputs (regression, probs, [points])."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "pnet":
            spec, pools = [(3, 10, 3), (10, 16, 3), (16, 32, 3)], {1: (2, 2)}
        elif kind == "rnet":
            spec, pools = [(3, 28, 3), (28, 48, 3), (48, 64, 2)], {1: (3, 2), 2: (3, 2)}
        else:
            spec, pools = [(3, 32, 3), (32, 64, 3), (64, 64, 3), (64, 128, 2)], {1: (3, 2), 2: (3, 2), 3: (2, 2)}
        for i, (cin, cout, k) in enumerate(spec, 1):
            setattr(self, f"conv{i}", nn.Conv2d(cin, cout, k))
            setattr(self, f"prelu{i}", nn.PReLU(cout))
        self.pools = pools
        self.depth = len(spec)
        if kind == "pnet":
            self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)
        elif kind == "rnet":
            self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
            self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)
        else:
            self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
            self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        for i in range(1, self.depth + 1):
            x = getattr(self, f"prelu{i}")(getattr(self, f"conv{i}")(x))
            if i in self.pools:
                k, s = self.pools[i]
                x = F.max_pool2d(x, k, s, ceil_mode=True)
        if self.kind == "pnet":
            return self.conv4_2(x), F.softmax(self.conv4_1(x), 1)
        x = x.permute(0, 3, 2, 1).flatten(1)  # the Caffe weights' (w, h, c) order
        if self.kind == "rnet":
            x = self.prelu4(self.dense4(x))
            return self.dense5_2(x), F.softmax(self.dense5_1(x), 1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), F.softmax(self.dense6_1(x), 1), self.dense6_3(x)


_NETS: dict[str, _Net] = {}


def load_mtcnn() -> dict[str, _Net]:
    """The three networks (fetched from PyPI on first use, then cached)."""
    if not _NETS:
        for name, entry in MTCNN_WEIGHTS.items():
            path = fetch(entry)
            if sha256_file(path) != entry.member_sha256:
                raise LowRankGANError(f"cached MTCNN weights {path} are corrupt; delete the file to fetch them again")
            net = _Net(name)
            net.load_state_dict(read_state(path, None), strict=True)
            _NETS[name] = net.eval().requires_grad_(False)
    return _NETS


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    x0, y0, x1, y1 = boxes.T
    area = (x1 - x0 + 1) * (y1 - y0 + 1)
    order, keep = np.argsort(scores), []
    while order.size:
        i, rest = order[-1], order[:-1]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + 1)
        inter = w * h
        overlap = inter / (np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(b: np.ndarray) -> np.ndarray:
    b = b.copy()
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = np.maximum(w, h)
    b[:, 0] += w / 2 - side / 2
    b[:, 1] += h / 2 - side / 2
    b[:, 2:4] = b[:, :2] + side[:, None]
    return b


def _regress(b: np.ndarray, reg: np.ndarray) -> np.ndarray:
    b = b.copy()
    w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    b[:, :4] += reg * np.stack([w, h, w, h], 1)
    return b


def _patches(img: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    out = []
    for x0, y0, x1, y1 in np.trunc(boxes[:, :4]).astype(int):
        x0, y0, x1, y1 = max(x0, 1), max(y0, 1), min(x1, w), min(y1, h)
        patch = img[:, :, y0 - 1:y1, x0 - 1:x1] if (y1 > y0 - 1 and x1 > x0 - 1) else img[:, :, :1, :1]
        out.append(F.interpolate(patch, size=(size, size), mode="area"))
    return (torch.cat(out) - 127.5) * 0.0078125


def detect_faces(photo: np.ndarray, min_face: int = 20) -> list[Face]:
    """Faces in an RGB ``uint8 [H, W, 3]`` photo, most confident first."""
    nets = load_mtcnn()
    img = torch.tensor(photo).permute(2, 0, 1)[None].float()
    h, w = photo.shape[:2]
    boxes = _pnet_stage(nets["pnet"], img, min_face)
    if len(boxes):
        reg, prob = nets["rnet"](_patches(img, _square(boxes), 24))
        boxes = _square(boxes)
        keep = prob[:, 1].numpy() > THRESHOLDS[1]
        boxes, reg = boxes[keep], reg.numpy()[keep]
        boxes[:, 4] = prob[:, 1].numpy()[keep]
        pick = _nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _square(_regress(boxes[pick], reg[pick]))
    if not len(boxes):
        return []
    reg, prob, pts = (t.numpy() for t in nets["onet"](_patches(img, boxes, 48)))
    keep = prob[:, 1] > THRESHOLDS[2]
    boxes, reg, pts = boxes[keep], reg[keep], pts[keep]
    boxes[:, 4] = prob[keep, 1]
    bw, bh = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    px = bw[:, None] * pts[:, :5] + boxes[:, :1] - 1
    py = bh[:, None] * pts[:, 5:] + boxes[:, 1:2] - 1
    points = np.stack([px, py], -1)
    boxes = _regress(boxes, reg)
    pick = _nms(boxes[:, :4], boxes[:, 4], 0.7, "min")
    return [Face(boxes[i, :4], float(boxes[i, 4]), points[i]) for i in pick]


def _pnet_stage(pnet: _Net, img: torch.Tensor, min_face: int) -> np.ndarray:
    """Candidate boxes ``[n, 9]`` (x0, y0, x1, y1, score, 4 regressions) over an image pyramid."""
    h, w = img.shape[-2:]
    m = 12.0 / min_face
    scales, side = [], min(h, w) * m
    while side >= 12:
        scales.append(m * FACTOR ** len(scales))
        side *= FACTOR
    found = []
    for scale in scales:
        data = (F.interpolate(img, size=(int(h * scale + 1), int(w * scale + 1)), mode="area") - 127.5) * 0.0078125
        reg, prob = pnet(data)
        probs = prob[0, 1].numpy()
        ys, xs = np.nonzero(probs >= THRESHOLDS[0])
        if not len(ys):
            continue
        cells = np.stack([xs, ys], 1).astype(np.float64)
        q1, q2 = np.floor((2 * cells + 1) / scale), np.floor((2 * cells + 12) / scale)
        boxes = np.concatenate([q1, q2, probs[ys, xs][:, None], reg[0][:, ys, xs].numpy().T], 1)
        found.append(boxes[_nms(boxes[:, :4], boxes[:, 4], 0.5)])
    if not found:
        return np.zeros((0, 9))
    boxes = np.concatenate(found)
    boxes = boxes[_nms(boxes[:, :4], boxes[:, 4], 0.7)]
    w_, h_ = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    shifted = boxes[:, :4] + boxes[:, 5:9] * np.stack([w_, h_, w_, h_], 1)
    return np.concatenate([shifted, boxes[:, 4:5]], 1)
