"""OCR data: renderer determinism, the ICDAR loader on fixtures in the real format, bad input, DB targets
and post-processing."""
import numpy as np
import pytest

from common.data.errors import DataError
from tasks.ocr.data import crop_word, load_icdar, load_split, order_quad, read_icdar_gt, save_split
from tasks.ocr.db import boxes_from_prob, db_targets
from tasks.ocr.langs import LANGUAGES
from tasks.ocr.render import EDGE_CASES, render_scene

LANGS = {c: 1.0 for c in LANGUAGES}


def test_renderer_is_deterministic_and_index_addressed():
    a = render_scene(3, 7, size=160, languages=LANGS)
    b = render_scene(3, 7, size=160, languages=LANGS)
    assert np.array_equal(a.image, b.image) and a.words == b.words and a.edge_case == b.edge_case
    c = render_scene(3, 8, size=160, languages=LANGS)
    assert not np.array_equal(a.image, c.image)
    val = render_scene(3, 7, size=160, languages=LANGS, stream=1)  # another split draws other scenes
    assert not np.array_equal(a.image, val.image)


def test_renderer_covers_languages_edge_cases_and_quads_inside():
    scenes = [render_scene(0, i, size=192, languages=LANGS) for i in range(60)]
    assert {s.language for s in scenes} >= {"en", "ar", "zh", "hi"}
    assert {s.edge_case for s in scenes} >= set(EDGE_CASES) - {"clutter"}
    n_words = [len(s.words) for s in scenes]
    assert max(n_words) > 3 and np.median(n_words) <= 3  # skewed: most images have few words
    for s in scenes:
        assert s.image.shape == (192, 192, 3) and s.image.dtype == np.uint8
        for w in s.words:
            q = np.asarray(w.quad).reshape(4, 2)
            assert (q >= -1.5).all() and (q <= 193.5).all() and w.text
    mixed = [s for s in scenes if s.edge_case == "mixed_script" and len({w.lang for w in s.words}) > 1]
    assert mixed, "a mixed-script scene should hold words of two languages"


def test_split_round_trip(tmp_path):
    rows = [{"file": "a.png", "width": 10, "height": 8, "language": "en", "edge_case": "clean",
             "words": [{"text": "open", "lang": "en", "quad": [0.0] * 8, "ignore": False}]}]
    save_split(rows, tmp_path / "train")
    assert load_split(tmp_path, "train") == rows
    with pytest.raises(DataError, match="prepared OCR split 'val'"):
        load_split(tmp_path, "val")


ICDAR15 = "\ufeff377,117,463,117,465,130,378,130,Genaxis Theatre\n374,155,409,155,409,170,374,170,###\n10,10,50,10,50,20,10,20,a,b\n"
MLT = "1,1,40,1,40,12,1,12,Arabic,مخرج\n50,1,90,1,90,12,50,12,Latin,EXIT\n"


def test_icdar_fixture_formats(tmp_path):
    p = tmp_path / "gt_img_1.txt"
    p.write_bytes(ICDAR15.encode("utf-8"))
    words = read_icdar_gt(p)
    assert [w["text"] for w in words] == ["Genaxis Theatre", "###", "a,b"]  # commas stay in the transcription
    assert [w["ignore"] for w in words] == [False, True, False]
    assert words[0]["quad"] == [377, 117, 463, 117, 465, 130, 378, 130]
    m = tmp_path / "gt_img_2.txt"
    m.write_text(MLT, encoding="utf-8")
    words = read_icdar_gt(m, script_column=True)
    assert [(w["lang"], w["text"]) for w in words] == [("Arabic", "مخرج"), ("Latin", "EXIT")]


def _write_image(path):
    import cv2

    cv2.imwrite(str(path), np.full((20, 30, 3), 200, np.uint8))


def test_load_icdar_rows_and_missing_gt(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "gt").mkdir()
    _write_image(tmp_path / "img" / "img_1.png")
    (tmp_path / "gt" / "gt_img_1.txt").write_bytes(ICDAR15.encode())
    rows = load_icdar(tmp_path / "img", tmp_path / "gt", language="en")
    assert len(rows) == 1 and rows[0]["width"] == 30 and rows[0]["height"] == 20 and len(rows[0]["words"]) == 3
    _write_image(tmp_path / "img" / "img_2.png")
    with pytest.raises(DataError, match="gt_img_2.txt"):
        load_icdar(tmp_path / "img", tmp_path / "gt")


@pytest.mark.parametrize("content, line, message", [
    (b"1,2,3,4,5,6,7,8,ok\n1,2,3,hello\n", 2, "4 comma-separated fields"),
    (b"1,2,3,4,5,6,x,8,word\n", 1, "non-numeric coordinate"),
    (b"1,2,3,4,5,6,7,8,ok\n1,2,3,4,5,6,7,8, \n", 2, "empty transcription"),
    (b"1,2,3,4,5,6,7,8,ok\n1,2,3,4,5,6,7,8,caf\xe9\n", 2, "not valid UTF-8"),  # Latin-1, not UTF-8
    (b"1,2,3,4,5,6,7,8,a\x01b\n", 1, "control or replacement character"),
])
def test_bad_transcriptions_name_file_and_line(tmp_path, content, line, message):
    p = tmp_path / "gt_x.txt"
    p.write_bytes(content)
    with pytest.raises(DataError, match=message) as e:
        read_icdar_gt(p)
    assert e.value.line == line and str(p) in str(e.value)


def test_unreadable_image_is_a_clear_error(tmp_path):
    from tasks.ocr.data import read_rgb

    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png: cannot read image"):
        read_rgb(bad)


def test_db_targets_and_postprocess_recover_the_word():
    quad = np.float32([[20, 30], [120, 30], [120, 60], [20, 60]])
    t = db_targets([quad], [False], 160)
    assert set(t) == {"gt", "gt_mask", "thresh", "thresh_mask"}
    gt = t["gt"]
    # the shrunk region is inside the word, the threshold map lies in [0.3, 0.7] and peaks on the border
    assert gt[45, 70] == 1 and gt[31, 21] == 0 and gt.sum() < 100 * 30
    assert t["thresh"].min() >= 0.3 - 1e-6 and t["thresh"].max() <= 0.7 + 1e-6
    assert t["thresh"][30, 70] == pytest.approx(0.7, abs=0.02) and t["thresh_mask"][45, 70] == 1
    boxes = boxes_from_prob(gt, box_thresh=0.5)
    assert len(boxes) == 1
    # unclip 1.5 undoes most of DB's shrink (r = 0.4: 9.7 px here, 7 px back): the box is 3 px inside
    assert np.abs(boxes[0][0] - quad).max() <= 3.5
    # a don't-care word is masked out of the probability loss instead
    t2 = db_targets([quad], [True], 160)
    assert t2["gt"].sum() == 0 and t2["gt_mask"][45, 70] == 0


def test_order_quad_and_crop():
    q = order_quad(np.float32([[120, 60], [20, 30], [20, 60], [120, 30]]))
    assert q.tolist() == [[20, 30], [120, 30], [120, 60], [20, 60]]
    img = np.zeros((100, 200, 3), np.uint8)
    img[30:60, 20:120] = 255
    crop = crop_word(img, q, height=32, max_width=160)
    assert crop.shape == (3, 32, 160)
    w = round(32 * 100 / 30)
    assert crop[:, 4:28, 2:w - 2].min() > 0.9 and crop[:, :, w + 1:].max() == 0  # padded on the right


def test_recogniser_data_counts_words_outside_the_charset(tmp_path):
    """Real data may hold characters the charset lacks: those words are counted and left out of recogniser
    training, never dropped silently; don't-care regions are not training words."""
    import cv2

    from tasks.ocr.datasets import RecDataset
    from tasks.ocr.text import Charset

    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.full((40, 200, 3), 255, np.uint8))
    words = [{"text": "open", "lang": "en", "quad": [5, 5, 60, 5, 60, 30, 5, 30], "ignore": False},
             {"text": "café", "lang": "fr", "quad": [70, 5, 120, 5, 120, 30, 70, 30], "ignore": False},
             {"text": "###", "lang": "", "quad": [130, 5, 190, 5, 190, 30, 130, 30], "ignore": True}]
    save_split([{"file": "a.png", "width": 200, "height": 40, "language": "en", "edge_case": "real", "words": words}],
               tmp_path / "train")
    ds = RecDataset(tmp_path, "train", Charset("openaf"), train=False)
    assert len(ds) == 1 and ds.skipped == {"outside_charset": 1, "too_long": 0}
    item = ds[0]
    assert item["img"].shape == (3, 32, 128) and item["text"] == "open" and int(item["label_len"]) == 4
