"""OCR text handling and metrics against hand-computed examples."""
import numpy as np
import pytest

from tasks.ocr.metrics import cer, detection_counts, prf, reading_order, word_counts, word_prf
from tasks.ocr.text import Charset, CharsetError, normalise, tokens, visual_order


def test_normalise_and_tokens():
    assert normalise("  Straße ") == "strasse"  # case folding
    assert normalise("ｃａｆé") == "café"  # NFKC: full-width letters
    assert tokens("Open 24h\nCAFÉ") == ["open", "24h", "café"]
    assert tokens("出口 面包店") == ["出", "口", "面", "包", "店"]  # Han characters are tokens of their own
    assert tokens("駅 open") == ["駅", "open"]
    assert tokens("") == []


def test_word_prf_hand_example():
    # image 1: gt {open, exit, bus}, pred {open, exit, exit} → tp 2, pred 3, gt 3
    # image 2: gt {market}, pred {} → tp 0, pred 0, gt 1
    assert word_counts("open exit bus", "OPEN exit exit") == (2, 3, 3)
    m = word_prf(["open exit bus", "market"], ["OPEN exit exit", ""])
    assert (m["tp"], m["n_pred"], m["n_gt"]) == (2, 3, 4)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert prf(0, 0, 0)["f1"] == 1.0 and prf(0, 0, 3)["f1"] == 0.0 and prf(0, 2, 0)["precision"] == 0.0
    with pytest.raises(ValueError):
        word_prf(["a"], [])


def test_cer_hand_example():
    assert cer(["abcd"], ["abcd"]) == 0.0
    assert cer(["abcd"], ["abxd"]) == pytest.approx(1 / 4)  # one substitution
    assert cer(["abcd", "ef"], ["abd", "EFG"]) == pytest.approx(2 / 6)  # one deletion + one insertion (case folded)


def test_charset_round_trip_and_rtl():
    cs = Charset.from_texts(["Straße", "مخرج", "出口", "24h"])
    for word in ("Straße", "مخرج", "出口", "24h", "h42"):
        assert cs.decode(cs.encode(word)) == word
    # Arabic is encoded in visual (left-to-right image) order, i.e. reversed
    assert cs.encode("مخرج") == [cs.index[c] for c in "مخرج"[::-1]]
    assert visual_order("مخرج") == "جرخم" and visual_order("exit") == "exit"
    assert Charset.from_json(cs.to_json()).chars == cs.chars
    with pytest.raises(CharsetError, match=r"'x' \(U\+0078\)"):
        cs.encode("exit")
    with pytest.raises(CharsetError):
        Charset(["ab"])


def test_ctc_greedy_decoding():
    cs = Charset("abc")
    a, b, c = cs.index["a"], cs.index["b"], cs.index["c"]
    # repeats collapse, blanks separate real repeats, leading/trailing blanks vanish
    assert cs.ctc_greedy([0, a, a, 0, a, b, b, 0, 0, c, c]) == "aabc"
    assert cs.ctc_greedy([0, 0, 0]) == ""
    assert cs.ctc_greedy(np.array([b, b, b])) == "b"


def test_charset_load_errors(tmp_path):
    p = tmp_path / "charset.json"
    p.write_text('{"format": "something else"}')
    with pytest.raises(CharsetError, match="charset.json"):
        Charset.load(p)
    with pytest.raises(CharsetError, match="cannot read"):
        Charset.load(tmp_path / "missing.json")


def test_reading_order_lines():
    quads = [[60, 0, 100, 0, 100, 10, 60, 10], [0, 1, 50, 1, 50, 11, 0, 11], [0, 30, 40, 30, 40, 40, 0, 40]]
    assert reading_order(quads, ["b", "a", "c"]) == "a b\nc"
    assert reading_order([], []) == ""


def test_detection_counts_iou_and_dont_care():
    gt = [[0, 0, 10, 0, 10, 10, 0, 10], [20, 0, 30, 0, 30, 10, 20, 10], [50, 0, 60, 0, 60, 10, 50, 10]]
    ignore = [False, False, True]
    preds = [[0, 0, 10, 0, 10, 9, 0, 9],          # IoU 0.9 with gt 0
             [20, 0, 26, 0, 26, 10, 20, 10],      # IoU 0.6 with gt 1
             [21, 0, 27, 0, 27, 10, 21, 10],      # gt 1 already taken → false positive
             [50, 0, 60, 0, 60, 10, 50, 10]]      # on a don't-care region: not counted
    assert detection_counts(preds, gt, ignore) == (2, 3, 2)
