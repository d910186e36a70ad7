"""Deterministic synthetic multilingual scene text: words rendered with real fonts (Pillow + libraqm, which
shapes Arabic and Devanagari) on textured backgrounds, one *edge case* per image, word-level quads in the
ICDAR convention (four corners clockwise from the top-left of the word as read).

Each image draws from its own generator seeded by ``(seed, split stream, index)``: an image is the same
whatever the number of images generated. The words-per-image count is skewed (geometric: most images hold
a few words, some many), like real photos of signs and labels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.data.synthetic import add_clutter_lines, add_sensor_noise, item_rng, textured_background
from tasks.ocr.langs import LANGUAGES, NUMERALS, Language, font_path

EDGE_CASES = ("clean", "blur", "noise", "low_contrast", "rotation", "perspective", "tiny", "mixed_script",
              "jpeg", "clutter")
_FONTS: dict = {}


def font(name: str, index: int, size: int):
    from PIL import ImageFont

    key = (name, index, size)
    if key not in _FONTS:
        _FONTS[key] = ImageFont.truetype(str(font_path(name)), size, index=index, layout_engine=ImageFont.Layout.RAQM)
    return _FONTS[key]


@dataclass
class Word:
    text: str
    lang: str
    quad: list[float]  # x1,y1,x2,y2,x3,y3,x4,y4 (top-left, top-right, bottom-right, bottom-left)


@dataclass
class Scene:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    language: str
    edge_case: str
    words: list[Word] = field(default_factory=list)


def _pick_word(rng: np.random.Generator, lang: Language) -> str:
    if rng.random() < 0.08:
        return str(rng.choice(NUMERALS))
    w = str(rng.choice(lang.words))
    if lang.cased:
        r = rng.random()
        if r < 0.2:
            w = w.upper()
        elif r < 0.4:
            w = w[:1].upper() + w[1:]
    return w


def _text_colour(rng: np.random.Generator, bg_mean: np.ndarray, low_contrast: bool) -> tuple[int, int, int]:
    if low_contrast:  # a shade close to the background: 18-30 grey levels away
        delta = rng.uniform(18, 30) * rng.choice([-1, 1])
        return tuple(int(v) for v in np.clip(bg_mean + delta, 0, 255))
    lum = float(bg_mean.mean())
    if lum > 128:
        return tuple(int(v) for v in rng.uniform(0, 60, 3))
    return tuple(int(v) for v in rng.uniform(195, 255, 3))


def render_scene(seed: int, index: int, *, size: int = 320, languages: dict[str, float], max_words: int = 12,
                 edge_cases: tuple[str, ...] = EDGE_CASES, stream: int = 0) -> Scene:
    """One scene. ``languages``: {code: sampling weight}. ``stream`` separates splits (train 0, val 1)."""
    from PIL import Image, ImageDraw

    rng = item_rng(seed, index, stream=100 + stream)
    codes = list(languages)
    p = np.array([languages[c] for c in codes], float)
    lang = LANGUAGES[str(rng.choice(codes, p=p / p.sum()))]
    edge = str(rng.choice(edge_cases))
    n_target = int(min(max_words, rng.geometric(0.3)))
    other = None
    if edge == "mixed_script":  # a second language of another script on the same sign
        others = [LANGUAGES[c] for c in codes if LANGUAGES[c].script != lang.script]
        other = others[int(rng.integers(len(others)))] if others else None

    bgr = textured_background(rng, size, size)
    img = Image.fromarray(bgr[..., ::-1].copy())
    draw = ImageDraw.Draw(img)
    scale = size / 320
    margin = int((0.15 if edge in ("rotation", "perspective") else 0.04) * size)
    y = margin + int(rng.integers(0, max(1, size // 3)))
    words: list[Word] = []
    while len(words) < n_target:
        fs = int(rng.integers(9, 13)) if edge == "tiny" else int(rng.integers(16, 34) * scale)
        fs = max(fs, 8)
        per_line = int(rng.integers(1, 4))
        line_words = []
        for _ in range(min(per_line, n_target - len(words))):
            wl = other if (other is not None and rng.random() < 0.5) else lang
            fname, fidx = wl.fonts[int(rng.integers(len(wl.fonts)))]
            line_words.append((_pick_word(rng, wl), wl, font(fname, fidx, fs)))
        boxes = [draw.textbbox((0, 0), t, font=f) for t, _, f in line_words]
        gap = int(0.6 * fs)
        widths = [b[2] - b[0] for b in boxes]
        line_w = sum(widths) + gap * (len(widths) - 1)
        line_h = max(b[3] for b in boxes) - min(b[1] for b in boxes)
        if y + line_h + margin > size:
            break
        if line_w > size - 2 * margin:
            if len(line_words) == 1:
                y += line_h + gap
                continue
            line_words, boxes, widths = line_words[:1], boxes[:1], widths[:1]
            line_w = widths[0]
        x = margin + int(rng.integers(0, max(1, size - 2 * margin - line_w + 1)))
        bg_mean = np.asarray(img.crop((x, y, x + line_w, y + line_h)).resize((1, 1)).getpixel((0, 0)), float)
        colour = _text_colour(rng, bg_mean, edge == "low_contrast")
        # a right-to-left line puts its first word on the right
        order = list(range(len(line_words)))[::-1] if lang.rtl and other is None else list(range(len(line_words)))
        cx = x
        placed = {}
        for i in order:
            t, wl, f = line_words[i]
            b = boxes[i]
            ox, oy = cx - b[0], y - min(bb[1] for bb in boxes)
            draw.text((ox, oy), t, font=f, fill=colour)
            x0, y0, x1, y1 = draw.textbbox((ox, oy), t, font=f)
            placed[i] = Word(t, wl.code, [x0 - 1, y0 - 1, x1 + 1, y0 - 1, x1 + 1, y1 + 1, x0 - 1, y1 + 1])
            cx += widths[i] + gap
        words += [placed[i] for i in range(len(line_words))]
        y += line_h + int(rng.integers(gap // 2 + 2, 2 * gap + 3))
    arr = np.asarray(img).copy()
    arr, words = _apply_edge_case(arr, words, edge, rng)
    return Scene(arr, lang.code, edge, words)


def _warp_words(words: list[Word], m: np.ndarray) -> list[Word]:
    out = []
    for w in words:
        pts = np.asarray(w.quad, np.float64).reshape(4, 2)
        h = np.c_[pts, np.ones(4)] @ m.T
        pts = h[:, :2] / h[:, 2:3] if m.shape[0] == 3 else h
        out.append(Word(w.text, w.lang, [round(float(v), 1) for v in pts.reshape(-1)]))
    return out


def _apply_edge_case(arr: np.ndarray, words: list[Word], edge: str, rng: np.random.Generator):
    import cv2

    h, w = arr.shape[:2]
    if edge == "rotation":
        m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(12, 30) * rng.choice([-1, 1])), 1.0)
        arr = cv2.warpAffine(arr, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        words = _warp_words(words, m)
    elif edge == "perspective":
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = src + rng.uniform(-0.12, 0.12, size=(4, 2)).astype(np.float32) * np.float32([w, h])
        m = cv2.getPerspectiveTransform(src, dst)
        arr = cv2.warpPerspective(arr, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        words = _warp_words(words, m)
    elif edge == "blur":
        arr = cv2.GaussianBlur(arr, (0, 0), float(rng.uniform(1.2, 2.0)))
    elif edge == "noise":
        arr = add_sensor_noise(arr, rng, float(rng.uniform(14, 24)))
    elif edge == "jpeg":
        ok, buf = cv2.imencode(".jpg", arr[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(6, 14))])
        arr = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()
    elif edge == "clutter":
        add_clutter_lines(arr, rng, int(rng.integers(12, 24)), max_thickness=3)
        for _ in range(int(rng.integers(4, 10))):  # blobs and frames that are not text
            c = tuple(int(v) for v in rng.uniform(0, 255, 3))
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            if rng.random() < 0.5:
                cv2.circle(arr, (x, y), int(rng.integers(3, 14)), c, int(rng.choice([-1, 2])))
            else:
                cv2.rectangle(arr, (x, y), (x + int(rng.integers(5, 40)), y + int(rng.integers(5, 40))), c, 2)
    # keep only words whose quad stays inside the image (warps can push a corner out)
    keep = [wd for wd in words if all(-1.5 <= v <= (w if i % 2 == 0 else h) + 1.5 for i, v in enumerate(wd.quad))]
    return np.ascontiguousarray(arr), keep
