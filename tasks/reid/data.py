"""Data for cross-modal person ReID.

**Synthetic identities** (tiny / smoke): each person id has fixed identity attributes — clothing colours and
pattern, garment types, hair, accessories (bag, hat), body shape, and the fabrics' thermal emissivity — and is
seen by several cameras under pose (walking phase), viewpoint (front / back / side) and lighting changes, in
four modalities:

* ``rgb`` — a colour rendering on the camera's background, with the camera's gain and colour cast;
* ``ir`` — an infrared-like rendering: intensity from each part's *temperature* (skin hot, fabrics by their
  emissivity, background cool), no colour, blur and sensor noise — so colour cannot be matched across RGB↔IR,
  only shape, garments, accessories and pattern;
* ``sketch`` — an edge drawing of the person (part boundaries, pattern strokes) on white, as a witness's sketch;
* text — an attribute description ("a tall slim person with long black hair in a red striped shirt …").

Every image draws from its own generator seeded by (seed, person, modality, index): identical whatever the
order or the number generated.

**Real layouts** (``full``), each converted into the same records (path, pid, cam, modality[, captions]):
Market-1501 (file-name convention ``0002_c1s1_000451_03.jpg``), SYSU-MM01 (``cam<k>/<pid>/<n>.jpg``, cams 3
and 6 infrared, ``exp/{train,val,test}_id.txt``), CUHK-PEDES (``reid_raw.json``: id, file_path, captions,
split) and plain identity folders (``<split>/<identity>/<image>``, RGB, cameras from Market-style ``c<N>`` tags
or unknown; :func:`load_folders`). Bad files raise :class:`common.data.errors.DataError` naming the file (and line / entry).
The benchmarks' evaluation protocols — which validation images are queries, which form the gallery (one, or
several single-shot samples), which camera pairs are not ranked — are built here too
(:func:`market1501_protocol`, :func:`sysu_mm01_protocol`) and stored with the validation split
(:class:`SplitArrays`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.data.errors import DataError, require_dir
from common.data.synthetic import item_rng

MODALITIES = ("rgb", "ir", "sketch")
MODALITY_CODE = {m: i for i, m in enumerate(MODALITIES)}

COLOURS = {  # name → RGB
    "red": (200, 30, 35), "blue": (35, 60, 190), "green": (40, 150, 60), "yellow": (230, 200, 40),
    "black": (25, 25, 28), "white": (235, 235, 230), "gray": (128, 128, 128), "orange": (235, 120, 30),
    "purple": (120, 50, 160), "pink": (235, 130, 170), "brown": (115, 75, 40), "navy": (20, 30, 90),
}
UPPER_COLOURS = list(COLOURS)
LOWER_COLOURS = ["black", "blue", "gray", "brown", "navy", "white", "green", "red"]
PATTERNS = ("plain", "striped", "checked", "logo")
UPPER_GARMENTS = ("t-shirt", "shirt", "jacket")
LOWER_TYPES = ("trousers", "shorts", "skirt")
BAGS = ("none", "backpack", "shoulder bag", "handbag")
HAIR_COLOURS = {"black": (20, 18, 18), "brown": (90, 55, 30), "blond": (210, 180, 100), "gray": (160, 160, 160)}
SKIN = [(240, 200, 170), (200, 150, 110), (150, 100, 70), (95, 65, 45)]
# thermal emissivity of fabrics (IR intensity of a garment; skin is the hottest part)
FABRICS = {"cotton": 0.55, "wool": 0.38, "synthetic": 0.7, "leather": 0.25}
# part labels of the rendered label map
BG, SKIN_P, HAIR_P, UPPER_P, ARM_P, LOWER_P, LEG_P, SHOE_P, BAG_P, HAT_P = range(10)


@dataclass(frozen=True)
class Identity:
    pid: int
    upper: str
    lower: str
    pattern: str
    garment: str
    lower_type: str
    bag: str
    hat: bool
    hair_long: bool
    hair: str
    skin: int
    height: float  # fraction of the frame height the person spans
    build: float  # width factor
    upper_fabric: str
    lower_fabric: str
    sleeves: bool


def sample_identity(seed: int, pid: int) -> Identity:
    rng = item_rng(seed, pid, stream=101)
    upper = UPPER_COLOURS[rng.integers(len(UPPER_COLOURS))]
    lower = LOWER_COLOURS[rng.integers(len(LOWER_COLOURS))]
    return Identity(
        pid=int(pid), upper=upper, lower=lower, pattern=PATTERNS[rng.integers(len(PATTERNS))],
        garment=UPPER_GARMENTS[rng.integers(len(UPPER_GARMENTS))], lower_type=LOWER_TYPES[rng.integers(3)],
        bag=BAGS[rng.integers(len(BAGS))], hat=bool(rng.random() < 0.3), hair_long=bool(rng.random() < 0.4),
        hair=list(HAIR_COLOURS)[rng.integers(len(HAIR_COLOURS))], skin=int(rng.integers(len(SKIN))),
        height=float(rng.uniform(0.78, 0.96)), build=float(rng.uniform(0.8, 1.25)),
        upper_fabric=list(FABRICS)[rng.integers(len(FABRICS))], lower_fabric=list(FABRICS)[rng.integers(len(FABRICS))],
        sleeves=bool(rng.random() < 0.5))


# ----------------------------------------------------------------------------------------- rendering
def _label_map(ident: Identity, rng: np.random.Generator, h: int, w: int, view: str, phase: float,
               scale: float, dx: float) -> tuple[np.ndarray, dict]:
    """Draw the person's parts into an (h, w) label map at 2× and return it with the stripe mask geometry."""
    from PIL import Image, ImageDraw

    S = 2
    H, W = h * S, w * S
    img = Image.new("L", (W, H), BG)
    d = ImageDraw.Draw(img)
    ph = ident.height * scale * H  # person height in pixels
    top = (H - ph) * 0.5 + rng.uniform(-0.03, 0.03) * H
    cx = W / 2 + dx * W
    u = ph / 8.0  # body unit: head ≈ 1 u
    side = view == "side"
    bw = (1.15 if not side else 0.7) * u * ident.build  # half torso width
    # legs (walking phase: stride)
    stride = 0.45 * u * np.sin(phase)
    hip_y, foot_y = top + 4.2 * u, top + ph
    knee_y = (hip_y + foot_y) / 2
    leg_w = max(0.38 * u * ident.build, 2)
    for sgn in (-1, 1):
        hx = cx + sgn * bw * 0.45
        fx = hx + sgn * stride * (1 if not side else 2)
        lower_len = {"trousers": 1.0, "shorts": 0.35, "skirt": 0.45}[ident.lower_type]
        # skin leg, then the garment over its upper part
        d.line([(hx, hip_y), ((hx + fx) / 2, knee_y), (fx, foot_y - 0.3 * u)], fill=LEG_P, width=int(leg_w * 2))
        if ident.lower_type == "trousers":
            d.line([(hx, hip_y), ((hx + fx) / 2, knee_y), (fx, foot_y - 0.3 * u)], fill=LOWER_P, width=int(leg_w * 2))
        elif ident.lower_type == "shorts":
            d.line([(hx, hip_y), (hx + (fx - hx) * lower_len, hip_y + (foot_y - hip_y) * lower_len)], fill=LOWER_P,
                   width=int(leg_w * 2.2))
        d.ellipse([fx - leg_w * 1.2, foot_y - 0.45 * u, fx + leg_w * 1.3, foot_y], fill=SHOE_P)
    if ident.lower_type == "skirt":
        d.polygon([(cx - bw, hip_y - 0.2 * u), (cx + bw, hip_y - 0.2 * u), (cx + bw * 1.35, hip_y + 1.5 * u),
                   (cx - bw * 1.35, hip_y + 1.5 * u)], fill=LOWER_P)
    # torso
    sh_y = top + 1.35 * u
    d.rounded_rectangle([cx - bw, sh_y, cx + bw, hip_y + 0.1 * u], radius=int(0.35 * u), fill=UPPER_P)
    # backpack: behind (visible in back / side views), strap in the front view
    if ident.bag == "backpack":
        if view == "back":
            d.rounded_rectangle([cx - bw * 0.8, sh_y + 0.3 * u, cx + bw * 0.8, hip_y - 0.3 * u], radius=int(0.3 * u),
                                fill=BAG_P)
        elif side:
            d.rounded_rectangle([cx + bw * 0.6, sh_y + 0.3 * u, cx + bw * 1.6, hip_y - 0.4 * u], radius=int(0.3 * u),
                                fill=BAG_P)
        else:
            for sgn in (-1, 1):
                d.line([(cx + sgn * bw * 0.55, sh_y), (cx + sgn * bw * 0.55, sh_y + 1.8 * u)], fill=BAG_P,
                       width=max(int(0.2 * u), 1))
    # arms (swing opposite to the legs)
    swing = -0.6 * u * np.sin(phase)
    arm_w = max(0.32 * u * ident.build, 2)
    for sgn in ((-1, 1) if not side else (1,)):
        ax = cx + sgn * (bw + arm_w * 0.6) if not side else cx
        hand = (ax + swing * sgn * 0.3 + (swing if side else 0), sh_y + 2.9 * u)
        elbow = (ax + (swing * 0.5 if side else 0), sh_y + 1.5 * u)
        d.line([(ax, sh_y + 0.2 * u), elbow, hand], fill=LEG_P, width=int(arm_w * 2))
        sleeve_end = hand if ident.sleeves or ident.garment == "jacket" else elbow
        d.line([(ax, sh_y + 0.2 * u), elbow] + ([hand] if sleeve_end is hand else []), fill=ARM_P,
               width=int(arm_w * 2.1))
    if ident.bag == "shoulder bag":
        bx = cx - bw * 1.3 if view != "back" else cx + bw * 1.3
        d.line([(cx + bw * 0.7, sh_y), (bx, hip_y - 0.2 * u)], fill=BAG_P, width=max(int(0.18 * u), 1))
        d.rectangle([bx - 0.6 * u, hip_y - 0.4 * u, bx + 0.6 * u, hip_y + 0.5 * u], fill=BAG_P)
    elif ident.bag == "handbag":
        hx = cx + (bw + arm_w) * (1 if view != "back" else -1)
        d.rectangle([hx - 0.45 * u, sh_y + 2.8 * u, hx + 0.45 * u, sh_y + 3.6 * u], fill=BAG_P)
    # head, hair, hat
    hr = 0.55 * u
    hy = top + 0.7 * u
    if ident.hair_long:
        d.rounded_rectangle([cx - hr * 1.1, hy - hr, cx + hr * 1.1, hy + hr * 2.1], radius=int(hr * 0.6), fill=HAIR_P)
    d.ellipse([cx - hr * (0.8 if side else 0.9), hy - hr, cx + hr * (0.8 if side else 0.9), hy + hr], fill=SKIN_P)
    if view == "back":
        d.ellipse([cx - hr * 0.95, hy - hr * 1.05, cx + hr * 0.95, hy + hr * 0.8], fill=HAIR_P)
    else:
        d.chord([cx - hr * 0.95, hy - hr * 1.1, cx + hr * 0.95, hy + hr * 0.4], 180, 360, fill=HAIR_P)
    if ident.hat:
        d.chord([cx - hr * 1.05, hy - hr * 1.3, cx + hr * 1.05, hy + hr * 0.2], 180, 360, fill=HAT_P)
        d.rectangle([cx - hr * 1.4, hy - hr * 0.45, cx + hr * 1.4, hy - hr * 0.25], fill=HAT_P)
    big = np.asarray(img)
    geo = {"sh_y": sh_y / S, "hip_y": hip_y / S, "u": u / S, "cx": cx / S, "bw": bw / S}
    # nearest-neighbour downsampling keeps labels exact; the colour image is antialiased separately
    return big, geo


def _pattern_mask(ident: Identity, big: np.ndarray, geo: dict, s: int = 2) -> np.ndarray:
    """Where the upper garment's pattern darkens it (stripes / checks / a logo), at the 2× grid."""
    H, W = big.shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) / s
    upper = np.isin(big, (UPPER_P, ARM_P))
    period = max(geo["u"] * 0.55, 1.2)
    if ident.pattern == "striped":
        m = (np.floor((yy - geo["sh_y"]) / period) % 2) == 1
    elif ident.pattern == "checked":
        m = ((np.floor((yy - geo["sh_y"]) / period) + np.floor((xx - geo["cx"]) / period)) % 2) == 1
    elif ident.pattern == "logo":
        cy = geo["sh_y"] + 1.1 * geo["u"]
        m = (np.abs(yy - cy) < 0.45 * geo["u"]) & (np.abs(xx - geo["cx"]) < 0.45 * geo["u"])
    else:
        m = np.zeros_like(upper)
    return m & upper


def _down(x: np.ndarray, h: int, w: int) -> np.ndarray:
    import cv2

    return cv2.resize(x.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def render(ident: Identity, modality: str, cam: int, rng: np.random.Generator, size: tuple[int, int] = (64, 32)
           ) -> np.ndarray:
    """One (H, W, 3) uint8 image of ``ident`` in ``modality`` seen by camera ``cam`` (pose, view, lighting,
    framing drawn from ``rng``)."""
    import cv2

    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    h, w = size
    view = ("front", "back", "side")[rng.integers(3)] if modality != "sketch" else ("front", "side")[rng.integers(2)]
    phase = float(rng.uniform(0, 2 * np.pi))
    scale = float(rng.uniform(0.9, 1.05))
    dx = float(rng.uniform(-0.06, 0.06))
    big, geo = _label_map(ident, rng, h, w, view, phase, scale, dx)
    pat = _pattern_mask(ident, big, geo)
    crng = np.random.default_rng([cam, 7])  # the camera's fixed character (background, colour cast)
    if modality == "rgb":
        table = np.zeros((10, 3), np.float32)
        table[SKIN_P] = table[LEG_P] = SKIN[ident.skin]
        table[HAIR_P] = HAIR_COLOURS[ident.hair]
        table[UPPER_P] = table[ARM_P] = COLOURS[ident.upper]
        table[LOWER_P] = COLOURS[ident.lower]
        if ident.lower_type != "trousers":
            table[LEG_P] = SKIN[ident.skin]
        table[SHOE_P] = (40, 35, 30)
        table[BAG_P] = (70, 50, 35) if ident.bag != "backpack" else (30, 40, 45)
        table[HAT_P] = COLOURS["navy"] if ident.upper != "navy" else COLOURS["gray"]
        col = table[big]
        shade = np.where(pat, 0.45 if ident.upper not in ("black", "navy") else 2.2, 1.0)[..., None]
        col = np.clip(col * shade, 0, 255)
        person = big != BG
        fg = _down(col, h, w)
        alpha = _down(person.astype(np.float32), h, w)[..., None]
        base = crng.uniform(70, 180, size=3) + rng.normal(0, 10, size=3)
        bgimg = np.empty((h, w, 3), np.float32)
        bgimg[:] = base
        coarse = crng.normal(0, 25, size=(3, 2, 3)).astype(np.float32)
        bgimg += cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        bgimg[int(h * rng.uniform(0.75, 0.9)):] *= 0.8  # the floor
        img = fg * alpha + bgimg * (1 - alpha)
        gain = float(crng.uniform(0.7, 1.2) * rng.uniform(0.8, 1.2))
        cast = crng.uniform(0.85, 1.15, size=3)
        img = img * gain * cast
        img += rng.normal(0, 4, size=img.shape)
    elif modality == "ir":
        temp = np.zeros(10, np.float32)
        temp[BG] = 0.12
        temp[SKIN_P] = temp[LEG_P] = 0.95
        temp[HAIR_P] = 0.6
        temp[UPPER_P] = temp[ARM_P] = FABRICS[ident.upper_fabric]
        temp[LOWER_P] = FABRICS[ident.lower_fabric]
        temp[SHOE_P] = 0.3
        temp[BAG_P] = 0.2
        temp[HAT_P] = 0.45
        t = temp[big]
        t = np.where(pat, t * 0.8, t)  # woven patterns show faintly in thermal
        t = _down(t, h, w)
        t = cv2.GaussianBlur(t, (0, 0), 0.7)
        t += np.linspace(0, crng.uniform(-0.1, 0.1), h)[:, None]  # the scene's thermal gradient
        t = t * float(rng.uniform(0.85, 1.15)) + float(rng.uniform(-0.05, 0.05))
        img = np.repeat(t[..., None] * 255, 3, axis=2) + rng.normal(0, 6, size=(h, w, 1))
    else:  # sketch: part boundaries + pattern strokes, dark on white
        lab = big
        edge = np.zeros(lab.shape, bool)
        edge[1:] |= lab[1:] != lab[:-1]
        edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
        pe = pat.copy()
        pedge = np.zeros_like(pe)
        pedge[1:] |= pe[1:] != pe[:-1]
        pedge[:, 1:] |= pe[:, 1:] != pe[:, :-1]
        strokes = edge.astype(np.float32) + 0.6 * pedge
        strokes = cv2.dilate(strokes, np.ones((2, 2), np.uint8)) if rng.random() < 0.5 else strokes
        ink = np.clip(_down(strokes, h, w) * 2.2, 0, 1)
        img = 255 - ink[..., None] * rng.uniform(180, 235) * np.ones((1, 1, 3))
        img += rng.normal(0, 3, size=(h, w, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def describe(ident: Identity, rng: np.random.Generator) -> str:
    """An attribute description of ``ident`` (CUHK-PEDES-style), worded by one of several templates."""
    height = "tall" if ident.height > 0.9 else "short" if ident.height < 0.83 else "medium-height"
    build = "slim" if ident.build < 0.93 else "heavy-set" if ident.build > 1.12 else "average-build"
    pattern = "" if ident.pattern == "plain" else ("striped " if ident.pattern == "striped" else
                                                   "checked " if ident.pattern == "checked" else "logo ")
    sleeves = "" if ident.garment == "jacket" else ("long-sleeved " if ident.sleeves else "short-sleeved ")
    top = f"a {ident.upper} {pattern}{sleeves}{ident.garment}"
    bottom = f"{'a ' if ident.lower_type == 'skirt' else ''}{ident.lower} {ident.lower_type}"
    hair = f"{'long' if ident.hair_long else 'short'} {ident.hair} hair"
    extras = []
    if ident.bag != "none":
        extras.append(f"carrying a {ident.bag}")
    if ident.hat:
        extras.append("wearing a hat")
    k = int(rng.integers(3))
    if k == 0:
        s = f"A {height} {build} person with {hair}, wearing {top} and {bottom}"
    elif k == 1:
        s = f"This {build} pedestrian wears {top} with {bottom} and has {hair}"
    else:
        s = f"The person is {height} and is dressed in {top} and {bottom}; {hair}"
    if extras:
        s += ", " + " and ".join(extras)
    return s + "."


@dataclass
class SplitArrays:
    """A prepared split: images (N, H, W, 3) uint8, pids / cams / modality codes (N,), and per-pid captions.

    A validation split of a benchmark with its own evaluation protocol (Market-1501, SYSU-MM01) also records it:
    ``query`` (N,) bool — the query images; ``galleries`` (T, N) bool — the gallery of each of T trials (one for
    Market-1501, the single-shot samples for SYSU-MM01; never a query image); ``protocol`` — a dict naming it:
    ``name``, ``pair`` ([query modality, gallery modality]), ``exclude`` (pairs [query cam, gallery cam] of
    camera codes whose gallery images are not ranked for such queries, whatever their identity), ``description``
    and the settings (see :func:`market1501_protocol`, :func:`sysu_mm01_protocol`). Without them (synthetic,
    identity folders, CUHK-PEDES) every validation image is a query against all the others."""

    images: np.ndarray
    pids: np.ndarray
    cams: np.ndarray
    modality: np.ndarray
    captions: dict[int, list[str]]
    query: np.ndarray | None = None
    galleries: np.ndarray | None = None
    protocol: dict | None = None

    def __post_init__(self):
        if (self.query is None) != (self.galleries is None) or (self.query is None) != (self.protocol is None):
            raise ValueError("query, galleries and protocol go together: all three or none")
        if self.query is not None:
            n = len(self.pids)
            self.query = np.asarray(self.query, bool)
            self.galleries = np.asarray(self.galleries, bool)
            if self.query.shape != (n,) or self.galleries.ndim != 2 or self.galleries.shape[1] != n:
                raise ValueError(f"protocol masks: query {self.query.shape} and galleries {self.galleries.shape} "
                                 f"do not match {n} images (expected ({n},) and (trials, {n}))")
            if (self.galleries & self.query).any():
                raise ValueError("protocol masks: an image is both a query and in a gallery")

    def save(self, path: Path) -> None:
        extra = {} if self.protocol is None else {"query": self.query, "galleries": self.galleries,
                                                  "protocol": np.array(json.dumps(self.protocol))}
        np.savez_compressed(path, images=self.images, pids=self.pids, cams=self.cams, modality=self.modality,
                            captions=np.array(json.dumps({str(k): v for k, v in self.captions.items()})), **extra)

    @classmethod
    def load(cls, path: str | Path) -> SplitArrays:
        path = Path(path)
        if not path.is_file():
            raise DataError(path, "prepared ReID split not found", expected="the output of `python -m tasks.reid.prepare`")
        try:
            z = np.load(path)
            caps = json.loads(str(z["captions"]))
            proto = {}
            if "protocol" in z.files:  # a benchmark's validation split (older files have none)
                proto = {"query": z["query"], "galleries": z["galleries"], "protocol": json.loads(str(z["protocol"]))}
            return cls(z["images"], z["pids"].astype(np.int64), z["cams"].astype(np.int64),
                       z["modality"].astype(np.int64), {int(k): v for k, v in caps.items()}, **proto)
        except (KeyError, ValueError, OSError) as e:
            raise DataError(path, f"unreadable ReID split ({e})", expected="an .npz with images, pids, cams, modality, "
                            "captions (and query, galleries, protocol together)") from e


def synthetic_split(seed: int, pids: range, per_modality: dict[str, tuple[int, int]], size: tuple[int, int],
                    captions_per_id: int = 2, progress: bool = True) -> SplitArrays:
    """Render every person in ``pids``: ``per_modality[m] = (cameras, images per camera)``; RGB cameras are
    numbered from 0, IR cameras after them, sketches come from one "artist" camera after those."""
    from tqdm import tqdm

    images, P, C, M, caps = [], [], [], [], {}
    cam0 = {"rgb": 0, "ir": per_modality["rgb"][0], "sketch": per_modality["rgb"][0] + per_modality["ir"][0]}
    for pid in tqdm(pids, desc="identities", unit="id", mininterval=2, disable=not progress):
        ident = sample_identity(seed, pid)
        for m, (ncam, per_cam) in per_modality.items():
            for c in range(ncam):
                for j in range(per_cam):
                    rng = item_rng(seed, pid * 1000 + c * 50 + j, stream=200 + MODALITY_CODE[m])
                    images.append(render(ident, m, cam0[m] + c, rng, size))
                    P.append(pid)
                    C.append(cam0[m] + c)
                    M.append(MODALITY_CODE[m])
        trng = item_rng(seed, pid, stream=300)
        caps[pid] = [describe(ident, trng) for _ in range(captions_per_id)]
    return SplitArrays(np.stack(images), np.array(P, np.int64), np.array(C, np.int64), np.array(M, np.int64), caps)


# ----------------------------------------------------------------------------------------- real layouts
@dataclass
class Record:
    path: Path
    pid: int
    cam: int
    modality: str
    captions: tuple[str, ...] = ()
    identity: str = ""  # the identity's own name where the layout has one (identity folders)


MARKET_RE = re.compile(r"^(-?\d+)_c(\d)s(\d)_(\d+)_(\d+)\.jpg$")
MARKET_JUNK, MARKET_DISTRACTOR = -1, 0  # the pids of Market-1501's junk boxes and its distractors ("0000")


def load_market1501(root: str | Path, split: str = "bounding_box_train", distractors: bool = False,
                    counts: dict | None = None) -> list[Record]:
    """Market-1501: ``<root>/<split>/<pid>_c<cam>s<seq>_<frame>_<box>.jpg`` (``0002_c1s1_000451_03.jpg``).

    Junk boxes (pid −1: bad detections, in ``bounding_box_test``) are always dropped: the benchmark's evaluation
    never ranks them (Zheng et al. 2015's code marks them junk for every query; torchreid and open-reid skip
    them when reading). Distractors (pid 0000: boxes of no test identity) are kept with pid 0 when
    ``distractors`` — in the gallery they are the non-matching items that make the benchmark's gallery as hard
    as published — and dropped otherwise (a training or query split). ``counts``, when given, receives
    ``junk_dropped``, ``distractors_kept`` and ``distractors_dropped``. Files other than ``.jpg`` (Market's
    zip holds a ``Thumbs.db``) are skipped; a ``.jpg`` off the naming convention, a camera outside c1…c6 or
    a pid below −1 is an error naming the file."""
    folder = require_dir(Path(root) / split, f"Market-1501 {split}")
    out, junk, kept, dropped = [], 0, 0, 0
    for f in sorted(folder.iterdir()):
        if f.suffix.lower() != ".jpg":
            continue
        m = MARKET_RE.match(f.name)
        if not m:
            raise DataError(f, "file name does not follow Market-1501's convention",
                            expected="<pid>_c<cam>s<seq>_<frame>_<box>.jpg, e.g. 0002_c1s1_000451_03.jpg")
        pid, cam = int(m.group(1)), int(m.group(2))
        if not 1 <= cam <= 6:
            raise DataError(f, f"camera {cam} out of range", expected="c1 … c6")
        if pid < MARKET_JUNK:
            raise DataError(f, f"person id {m.group(1)} out of range",
                            expected="-1 (junk), 0000 (distractor) or a person id ≥ 0001")
        if pid == MARKET_JUNK:
            junk += 1
            continue
        if pid == MARKET_DISTRACTOR:
            if not distractors:
                dropped += 1
                continue
            kept += 1
        out.append(Record(f, pid, cam - 1, "rgb"))
    if counts is not None:
        counts.update(junk_dropped=junk, distractors_kept=kept, distractors_dropped=dropped)
    if not out:
        raise DataError(folder, "no images", expected="Market-1501 .jpg files")
    return out


def market1501_protocol(n_query: int, n_gallery: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """Market-1501's single-query protocol for a validation split holding its ``n_query`` query images first and
    its ``n_gallery`` gallery images (``bounding_box_test``, distractors included) after them: (query mask,
    galleries (1, N), protocol). Each query is ranked against the gallery only; gallery images of its own
    identity seen by its own camera are not ranked (the evaluation's same-camera rule); distractors (pid 0)
    never match a query."""
    query = np.r_[np.ones(n_query, bool), np.zeros(n_gallery, bool)]
    return query, ~query[None], {
        "name": "market1501", "pair": ["rgb", "rgb"], "exclude": [], "trials": 1,
        "description": "Market-1501 single-query: query/ vs bounding_box_test/ (distractors 0000 kept as "
                       "non-matches, junk −1 dropped); gallery images of the query's identity from the query's "
                       "camera are not ranked"}


SYSU_IR_CAMS = (3, 6)


def load_sysu_mm01(root: str | Path, split: str = "train") -> list[Record]:
    """SYSU-MM01: ids from ``exp/<split>_id.txt`` (comma-separated), images ``cam<k>/<pid:04d>/<n>.jpg``;
    cams 3 and 6 are infrared (near-IR), the others RGB."""
    root = require_dir(root, "SYSU-MM01")
    id_file = root / "exp" / f"{split}_id.txt"
    if not id_file.is_file():
        raise DataError(id_file, "id list not found", expected=f"exp/{split}_id.txt with comma-separated person ids")
    ids = []
    for ln, line in enumerate(id_file.read_text().splitlines(), 1):
        for tok in line.replace(" ", "").split(","):
            if not tok:
                continue
            if not tok.isdigit():
                raise DataError(id_file, f"bad person id {tok!r}", line=ln, expected="integers separated by commas")
            ids.append(int(tok))
    out = []
    for cam in range(1, 7):
        cam_dir = root / f"cam{cam}"
        if not cam_dir.is_dir():
            continue
        for pid in ids:
            for f in sorted((cam_dir / f"{pid:04d}").glob("*.jpg")):
                out.append(Record(f, pid, cam - 1, "ir" if cam in SYSU_IR_CAMS else "rgb"))
    if not out:
        raise DataError(root, f"no images for the {len(ids)} ids of {id_file.name}", expected="cam<k>/<pid:04d>/<n>.jpg")
    return out


# SYSU-MM01's evaluation (Wu et al., ICCV 2017, and its released code, followed by AGW / DDAG / CAJ): infrared
# queries against an RGB gallery; all-search ranks the RGB images of cams 1, 2, 4, 5, indoor-search those of the
# indoor cams 1, 2; cam 2 and cam 3 overlap (the same room), so a cam-3 query never ranks cam-2 gallery images
SYSU_GALLERY_CAMS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
SYSU_EXCLUDED = ((3, 2),)  # (query camera, gallery camera), camera numbers as in the folder names


def sysu_mm01_protocol(records: list[Record], search: str = "all", trials: int = 10,
                       where: str | Path = "SYSU-MM01") -> tuple[np.ndarray, np.ndarray, dict]:
    """SYSU-MM01's single-shot protocol over a validation split's records (as :func:`load_sysu_mm01` reads them:
    ``cam`` = camera number − 1): (query mask, galleries (trials, N), protocol).

    Queries: every infrared image (cams 3 and 6). Gallery of trial t: for each identity (ascending) and each
    gallery camera of ``search`` (ascending), one image drawn by ``random.Random(t).choice`` from its images
    sorted by path — the reference code's ``random.seed(trial)`` + ``random.choice`` in the same order, so on the
    real dataset trial t's gallery is the one published results were measured on. The seeds are fixed: trial
    t = 0 … trials − 1 uses seed t. Cam-3 queries never rank cam-2 gallery images (``exclude``)."""
    import random

    if search not in SYSU_GALLERY_CAMS:
        raise ValueError(f"SYSU-MM01 search {search!r}: expected one of {sorted(SYSU_GALLERY_CAMS)}")
    query = np.array([r.modality == "ir" for r in records])
    if not query.any():
        raise DataError(where, "no infrared images (cam3, cam6) for the validation ids: nothing to query",
                        expected="cam3/<pid:04d>/*.jpg or cam6/<pid:04d>/*.jpg for the ids of the validation list")
    cams = SYSU_GALLERY_CAMS[search]
    by_id_cam: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for i, r in enumerate(records):
        if r.modality == "rgb" and r.cam + 1 in cams:
            by_id_cam.setdefault((r.pid, r.cam + 1), []).append((str(r.path), i))
    if not by_id_cam:
        raise DataError(where, f"no RGB images from the {search}-search gallery cameras for the validation ids",
                        expected=" or ".join(f"cam{c}/<pid:04d>/*.jpg" for c in cams))
    pids = sorted({r.pid for r in records})
    galleries = np.zeros((trials, len(records)), bool)
    for t in range(trials):
        rnd = random.Random(t)
        for pid in pids:
            for cam in cams:
                files = sorted(by_id_cam.get((pid, cam), []))
                if files:
                    galleries[t, rnd.choice(files)[1]] = True
    return query, galleries, {
        "name": "sysu_mm01", "pair": ["ir", "rgb"], "search": search, "trials": trials,
        "gallery_cams": list(cams), "query_cams": list(SYSU_IR_CAMS),
        "exclude": [[q - 1, g - 1] for q, g in SYSU_EXCLUDED],  # as camera codes (number − 1)
        "seeds": list(range(trials)),
        "description": f"SYSU-MM01 {search}-search single-shot: IR queries (cams 3, 6) vs one RGB image per identity "
                       f"per camera ({', '.join(f'cam{c}' for c in cams)}), cam-3 queries not ranked against cam 2; "
                       f"{trials} galleries (trial t: Python random.Random(t), as the reference code), mean reported"}


def load_cuhk_pedes(root: str | Path, split: str = "train", annotations: str = "reid_raw.json") -> list[Record]:
    """CUHK-PEDES: ``<root>/<annotations>`` is a JSON list of {id, file_path, captions, split}; images under
    ``<root>/imgs/<file_path>``. Each entry is checked (entry number in the error)."""
    ann = Path(root) / annotations
    if not ann.is_file():
        raise DataError(ann, "annotation file not found", expected="CUHK-PEDES reid_raw.json")
    try:
        items = json.loads(ann.read_text())
    except json.JSONDecodeError as e:
        raise DataError(ann, f"invalid JSON ({e.msg})", line=e.lineno) from e
    if not isinstance(items, list):
        raise DataError(ann, "top level is not a list", expected="a JSON list of annotation objects")
    out = []
    for i, it in enumerate(items):
        where = f"entry {i}"
        if not isinstance(it, dict) or not {"id", "file_path", "captions"} <= set(it):
            raise DataError(ann, f"{where}: missing keys", expected="id, file_path, captions (and split)")
        if not isinstance(it["captions"], list) or not all(isinstance(c, str) for c in it["captions"]):
            raise DataError(ann, f"{where}: captions must be a list of strings")
        try:
            pid = int(it["id"])
        except (TypeError, ValueError):
            raise DataError(ann, f"{where}: id {it['id']!r} is not an integer") from None
        if it.get("split", split) != split:
            continue
        out.append(Record(Path(root) / "imgs" / it["file_path"], pid, 0, "rgb", tuple(it["captions"])))
    if not out:
        raise DataError(ann, f"no entries with split {split!r}")
    return out


# image files of identity folders (as common.data.images.IMAGE_SUFFIXES; not imported: the prepare stage's DVC deps
# list the modules it imports)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# a Market-style camera tag in a file name: "c<N>" standing alone or followed by Market's "s<seq>"
# (0002_c1s1_000451_03.jpg → 1, cam_c3_17.png → 3; "disc2.jpg" or "c3po.jpg" carry none)
FOLDER_CAM_RE = re.compile(r"(?:^|[_\-. ])c(\d+)(?=s\d|[_\-. ])", re.IGNORECASE)


def load_folders(root: str | Path, split: str) -> list[Record]:
    """One folder per identity: ``<root>/<split>/<identity>/<image>`` (:data:`IMAGE_SUFFIXES`), modality RGB, no
    captions.

    * identity: the folder's name; pids are the folders' positions in sorted name order (0, 1, … within the split;
      :attr:`Record.identity` keeps the name).
    * camera: a Market-style ``c<N>`` tag in the file name (``0002_c1s1_000451_03.jpg`` → camera 1). Either every
      image of the split carries one or none does (a mix is an error). With no tags the cameras are unknown and
      every image is given its own camera (its position in its folder), so that the evaluation's same-camera rule
      (a gallery image of the query's person seen by the query's camera does not count) removes only the query
      itself: every *other* image of the identity is a positive.

    Hidden files (``.DS_Store``) are ignored; anything else that is not an image folder or an image is an error, as is
    an identity folder without images."""
    folder = require_dir(Path(root) / split, f"identity folders ({split})")
    ids = []
    for d in sorted(folder.iterdir()):
        if d.name.startswith("."):
            continue
        if not d.is_dir():
            raise DataError(d, "a file directly in the split folder",
                            expected=f"one sub-folder per identity holding its images ({split}/<identity>/<image>)")
        ids.append(d)
    if not ids:
        raise DataError(folder, "no identity folders", expected=f"{split}/<identity>/<image>, one folder per person")
    out, tagged, untagged = [], [], []
    for pid, d in enumerate(ids):
        images = []
        for f in sorted(d.iterdir()):
            if f.name.startswith("."):
                continue
            if not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f, f"not an image (identity folder {d.name!r})",
                                expected=f"only image files ({', '.join(IMAGE_SUFFIXES)}) in an identity folder")
            images.append(f)
        if not images:
            raise DataError(d, f"identity {d.name!r} has no images", expected=f"image files ({', '.join(IMAGE_SUFFIXES)})")
        for i, f in enumerate(images):
            m = FOLDER_CAM_RE.search(f.stem + ".")
            (tagged if m else untagged).append(f)
            out.append(Record(f, pid, int(m.group(1)) if m else i, "rgb", identity=d.name))
    if tagged and untagged:
        raise DataError(untagged[0], f"no camera tag, while {len(tagged)} other image(s) of {split} have one "
                        f"(e.g. {tagged[0].name})", expected="a c<N> camera tag in every file name of the split or in none")
    return out


def check_gallery(records: list[Record], folder: str | Path) -> None:
    """Every identity of a validation split must be findable: at least two images, and with known cameras
    (``c<N>`` tags) at least two cameras — otherwise none of its queries has a positive. The identity is named."""
    by_id: dict[int, list[Record]] = {}
    for r in records:
        by_id.setdefault(r.pid, []).append(r)
    for rs in by_id.values():
        name = rs[0].identity or str(rs[0].pid)
        where = Path(folder) / name if rs[0].identity else Path(folder)
        if len(rs) < 2:
            raise DataError(where, f"validation identity {name!r} has one image only: no gallery match for it",
                            expected="at least two images of every validation identity")
        if len({r.cam for r in rs}) < 2:
            raise DataError(where, f"validation identity {name!r}: all {len(rs)} images from camera c{rs[0].cam}, "
                            "and same-camera matches do not count", expected="images from at least two cameras")


LOADERS = {"market1501": load_market1501, "sysu_mm01": load_sysu_mm01, "cuhk_pedes": load_cuhk_pedes,
           "folders": load_folders}


def read_records(records: list[Record], size: tuple[int, int], progress: bool = True) -> SplitArrays:
    """Read and resize the records' images into a :class:`SplitArrays` (pids kept; captions by pid)."""
    import cv2
    from tqdm import tqdm

    images, caps = [], {}
    for r in tqdm(records, desc="images", unit="img", mininterval=2, disable=not progress):
        img = cv2.imread(str(r.path), cv2.IMREAD_COLOR)
        if img is None:
            raise DataError(r.path, "unreadable or missing image", expected="a JPEG/PNG file")
        images.append(cv2.resize(img[..., ::-1], (size[1], size[0]), interpolation=cv2.INTER_AREA))
        if r.captions:
            caps.setdefault(r.pid, []).extend(r.captions)
    return SplitArrays(np.stack(images), np.array([r.pid for r in records], np.int64),
                       np.array([r.cam for r in records], np.int64),
                       np.array([MODALITY_CODE[r.modality] for r in records], np.int64), caps)
