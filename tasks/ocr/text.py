"""Text handling shared by training and assessment: Unicode normalisation, word tokens, visual order for
right-to-left scripts, and the recogniser's character set with CTC encode / greedy decode.

Word tokens (the unit of E-ARMOR's word-level precision / recall / F1): NFKC + case folding, split on
white space; scripts written without spaces between words (Han, Kana, Hangul is spaced but its units are
syllable blocks) are split into characters, so a Chinese sign read as one box or as three counts the same.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable

_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x31F0, 0x31FF))


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return any(a <= o <= b for a, b in _CJK_RANGES)


def tokens(text: str) -> list[str]:
    """Word tokens of ``text`` after normalisation (CJK characters are tokens of their own)."""
    out: list[str] = []
    for word in normalise(text).split():
        buf = ""
        for ch in word:
            if is_cjk(ch):
                if buf:
                    out.append(buf)
                    buf = ""
                out.append(ch)
            else:
                buf += ch
        if buf:
            out.append(buf)
    return out


def is_rtl(text: str) -> bool:
    """True when the strong characters of ``text`` are right-to-left (Arabic, Hebrew)."""
    strong = [unicodedata.bidirectional(c) for c in text if unicodedata.bidirectional(c) in ("L", "R", "AL")]
    return bool(strong) and sum(d in ("R", "AL") for d in strong) > len(strong) / 2


def visual_order(text: str) -> str:
    """The order a left-to-right reader of the image meets the characters (a CTC recogniser's order):
    reversed for a right-to-left word, unchanged otherwise. Its own inverse on one word."""
    return text[::-1] if is_rtl(text) else text


class CharsetError(ValueError):
    pass


class Charset:
    """Index 0 is the CTC blank; characters follow in a fixed (sorted) order."""

    def __init__(self, chars: Iterable[str]):
        chars = sorted(set(chars))
        bad = [c for c in chars if len(c) != 1 or c.isspace()]
        if bad:
            raise CharsetError(f"charset entries must be single non-space characters, got {bad[:5]}")
        self.chars = chars
        self.index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Charset:
        return cls(c for t in texts for c in t if not c.isspace())

    def __len__(self) -> int:  # classes including the blank
        return len(self.chars) + 1

    def missing(self, text: str) -> list[str]:
        return sorted({c for c in text if c not in self.index})

    def encode(self, text: str) -> list[int]:
        """Indices of ``text`` in visual order; a character outside the set is a :class:`CharsetError`."""
        miss = self.missing(text)
        if miss:
            raise CharsetError(f"{text!r}: character(s) outside the charset: "
                               + ", ".join(f"{c!r} (U+{ord(c):04X})" for c in miss))
        return [self.index[c] for c in visual_order(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Indices (already collapsed) back to the logical string."""
        return visual_order("".join(self.chars[i - 1] for i in ids if 0 < i <= len(self.chars)))

    def ctc_greedy(self, best_path: Iterable[int]) -> str:
        """Collapse repeats, drop blanks, map to text: the standard CTC best-path decoding."""
        out, prev = [], 0
        for i in best_path:
            i = int(i)
            if i != prev and i != 0:
                out.append(i)
            prev = i
        return self.decode(out)

    def to_json(self) -> dict:
        return {"format": "edgerepro.ocr.charset.v1", "blank": 0, "chars": "".join(self.chars)}

    @classmethod
    def load(cls, path) -> Charset:
        import json
        from pathlib import Path

        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise CharsetError(f"{path}: cannot read the charset ({e}); expected the prepare stage's charset.json") from e
        try:
            return cls.from_json(doc)
        except CharsetError as e:
            raise CharsetError(f"{path}: {e}") from e

    @classmethod
    def from_json(cls, doc: dict) -> Charset:
        if doc.get("format") != "edgerepro.ocr.charset.v1":
            raise CharsetError(f"not an edgerepro charset (format {doc.get('format')!r})")
        return cls(list(doc["chars"]))
