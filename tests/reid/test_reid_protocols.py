"""The benchmarks' evaluation protocols on fixtures in their real layouts (tiny images written here), with answers
computed on paper: Market-1501 (query vs gallery, distractors kept as non-matches, junk dropped and counted,
same-identity-same-camera not ranked) and SYSU-MM01 (IR queries vs single-shot RGB galleries over 10 seeded trials,
cam 3 → cam 2 not ranked, all- vs indoor-search).

The embeddings are built so that every cosine similarity is chosen by hand: the queries' embeddings are orthonormal
basis vectors, and a gallery image's embedding holds its chosen similarity to each query in the queries' coordinates
plus a private coordinate that makes its norm 1 — so cos(query, gallery) is exactly the chosen number, and the
ranking of each query (and so Rank-1 / AP) can be worked out below by hand."""
import json
import os
import random
from fractions import Fraction as Fr

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from common.data.errors import DataError
from tasks.reid.data import SplitArrays, load_sysu_mm01, sysu_mm01_protocol
from tasks.reid.metrics import evaluate_pairs, evaluate_split, retrieval_metrics
from tasks.reid.module import SAME_PAIR, VISUAL_PAIRS
from tasks.reid.prepare import Params, run


def _jpg(path, value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 16), (value, 255 - value, 40)).save(path, "JPEG")


def _embeddings(n_images: int, queries: dict[int, int], sims: dict[int, list[float]]) -> torch.Tensor:
    """queries: image index → query coordinate; sims: gallery image index → its cosine to each query coordinate."""
    nq = max(queries.values()) + 1
    emb = torch.zeros(n_images, nq + n_images, dtype=torch.float64)
    for i, k in queries.items():
        emb[i, k] = 1
    for i, s in sims.items():
        emb[i, :nq] = torch.tensor(s, dtype=torch.float64)
        emb[i, nq + i] = (1 - sum(x * x for x in s)) ** 0.5  # private coordinate: unit norm
    return emb


def _close(a, b):
    return a == pytest.approx(float(b), abs=1e-6)


# ------------------------------------------------------------------------------------------------- Market-1501
MARKET = {
    "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0007_c3s3_077419_03.jpg",
                           "0007_c1s3_077500_01.jpg", "-1_c1s1_000401_03.jpg", "0000_c2s1_000100_01.jpg", "Thumbs.db"],
    "query": ["0001_c1s1_000101_00.jpg", "0003_c2s1_000201_00.jpg", "0003_c3s1_000210_00.jpg"],
    "bounding_box_test": ["0001_c1s1_000102_01.jpg", "0001_c3s1_000103_01.jpg", "0003_c1s1_000202_01.jpg",
                          "0003_c4s1_000203_01.jpg", "0000_c1s1_000001_01.jpg", "0000_c5s1_000002_01.jpg",
                          "-1_c1s1_000003_01.jpg", "-1_c2s1_000004_01.jpg", "-1_c6s1_000005_01.jpg"],
}
MARKET_SPLITS = {"train": "bounding_box_train", "val": ["query", "bounding_box_test"]}


def _market(root, layout=MARKET):
    for folder, names in layout.items():
        for k, n in enumerate(names):
            if n.endswith(".jpg"):
                _jpg(root / folder / n, 20 * k)
            else:
                (root / folder / n).write_bytes(b"\0")  # Market's zip ships a Thumbs.db: not an image, skipped
    return root


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("market")
    root = _market(tmp / "Market-1501")
    stats = run(Params(source="market1501", raw_dir=str(root), image_size=[16, 8], splits=MARKET_SPLITS), tmp / "out")
    return tmp / "out", stats


def test_market_counts_junk_and_distractors_in_stats(market):
    out, stats = market
    assert json.loads((out / "stats.json").read_text()) == stats
    train, val = stats["splits"]["train"], stats["splits"]["val"]
    # train: one junk box and one distractor dropped; 2 identities × 2 images left
    assert (train["images"], train["ids"], train["junk_dropped"], train["distractors_dropped"],
            train["distractors_kept"]) == (4, 2, 1, 1, 0)
    # val: 3 junk boxes dropped, the 2 distractors kept in the gallery (not counted as an identity)
    assert (val["junk_dropped"], val["distractors_kept"], val["distractors_dropped"]) == (3, 2, 0)
    assert val["folders"]["bounding_box_test"]["junk_dropped"] == 3 and val["folders"]["query"]["junk_dropped"] == 0
    assert (val["images"], val["ids"], val["query_images"], val["gallery_images"], val["query_ids"]) == (9, 2, 3, 6, 2)
    assert "distractors 0000 kept" in val["protocol"]


def test_market_query_and_gallery_are_kept_apart(market):
    out, _ = market
    val = SplitArrays.load(out / "dataset" / "val.npz")
    # query/ first (sorted), then bounding_box_test/ (sorted: 0000_c1, 0000_c5, 0001_c1, 0001_c3, 0003_c1, 0003_c4)
    assert val.pids.tolist() == [1, 3, 3, 0, 0, 1, 1, 3, 3]
    assert val.cams.tolist() == [0, 1, 2, 0, 4, 0, 2, 0, 3]
    assert val.query.tolist() == [True] * 3 + [False] * 6
    assert val.galleries.shape == (1, 9) and val.galleries[0].tolist() == [False] * 3 + [True] * 6
    assert val.protocol["name"] == "market1501" and val.protocol["pair"] == ["rgb", "rgb"]
    train = SplitArrays.load(out / "dataset" / "train.npz")
    assert train.protocol is None and train.query is None  # training split: no protocol
    assert 0 not in train.pids.tolist() and -1 not in train.pids.tolist()


def test_market_rank1_and_map_by_hand_with_distractors(market):
    """Queries A (0001 c1), B (0003 c2), C (0003 c3); gallery g0 = 0000 c1, g1 = 0000 c5 (distractors),
    g2 = 0001 c1, g3 = 0001 c3, g4 = 0003 c1, g5 = 0003 c4. Chosen cosines (to A, B, C):

    A: g2 .6 (its identity AND camera: not ranked), g0 .5 (distractor), g3 .4 (+), g4 .3, g1 .2, g5 .1
       → ranked g0, g3+, … : AP 1/2, Rank-1 miss, INP 1/2
    B: g4 .6 (+), g1 .5 (distractor), g2 .4, g5 .3 (+), g0 .2, g3 .1 → positives at 1, 4: AP (1 + 2/4)/2 = 3/4, hit
    C: g1 .6, g0 .5 (both distractors), g5 .4 (+), g4 .3 (+), g3 .2, g2 .1 → positives at 3, 4: AP (1/3 + 2/4)/2 = 5/12
    mAP = (1/2 + 3/4 + 5/12)/3 = 5/9, Rank-1 = 1/3, Rank-5 = 1, mINP = (1/2 + 2/4 + 2/4)/3 = 1/2.
    Dropping the distractors, ranking g2 for A, or letting C be in B's gallery would each change these numbers."""
    out, _ = market
    val = SplitArrays.load(out / "dataset" / "val.npz")
    sims = {3: [.5, .2, .5], 4: [.2, .5, .6], 5: [.6, .4, .1], 6: [.4, .1, .2], 7: [.3, .6, .3], 8: [.1, .3, .4]}
    emb = _embeddings(9, {0: 0, 1: 1, 2: 2}, sims)
    res = evaluate_split(emb, val, {**VISUAL_PAIRS, **SAME_PAIR})
    m = res["rgb_rgb"]
    assert m["queries"] == 3 and m["gallery"] == 6 and "trials" not in m
    assert _close(m["map"], Fr(5, 9)) and _close(m["rank1"], Fr(1, 3))
    assert _close(m["rank5"], 1) and _close(m["minp"], Fr(1, 2))
    assert list(res) == ["ir_rgb", "rgb_ir", "sketch_rgb", "rgb_rgb"]  # the other pairs: nothing to score on RGB data
    assert res["ir_rgb"]["queries"] == 0
    # the old evaluation (every validation image a query against all the others) answers differently
    loo = evaluate_pairs(emb, val.pids, val.cams, val.modality, SAME_PAIR)["rgb_rgb"]
    assert loo["queries"] != 3 or not _close(loo["map"], Fr(5, 9))
    # without the distractors A and C would find a match first (B: g4+, g2, g5+ → AP 5/6): a different answer
    keep = [i for i in range(9) if val.pids[i] != 0]
    r = retrieval_metrics(1 - (emb[:3] @ emb[keep][3:].T).numpy(), val.pids[:3], val.pids[keep][3:],
                          val.cams[:3], val.cams[keep][3:])
    assert _close(r["rank1"], 1) and _close(r["map"], Fr(17, 18))


def test_market_bad_input_names_the_file(tmp_path):
    for bad, message in [("0001_c1_000101.jpg", r"query/0001_c1_000101\.jpg: file name does not follow Market-1501"),
                         ("0001_c7s1_000101_00.jpg", r"query/0001_c7s1_000101_00\.jpg: camera 7 out of range"),
                         ("-2_c1s1_000101_00.jpg", r"query/-2_c1s1_000101_00\.jpg: person id -2 out of range.*junk")]:
        root = _market(tmp_path / bad / "Market-1501", {**MARKET, "query": MARKET["query"] + [bad]})
        with pytest.raises(DataError, match=message):
            run(Params(source="market1501", raw_dir=str(root), image_size=[16, 8], splits=MARKET_SPLITS),
                tmp_path / bad / "out")
        assert not (tmp_path / bad / "out").exists()
    with pytest.raises(ValidationError, match=r"splits.val is \[query folder, gallery folder\]"):
        Params(source="market1501", raw_dir="r", splits={"train": "bounding_box_train", "val": "bounding_box_test"})
    with pytest.raises(ValidationError, match="search: SYSU-MM01's protocol settings"):
        Params(source="market1501", raw_dir="r", splits=MARKET_SPLITS, search="indoor")


# ------------------------------------------------------------------------------------------------- SYSU-MM01
# test identities 4 and 5: images per camera (cams 3 and 6 infrared); pid 5 has no cam4 folder
SYSU_TEST = {1: {4: 3, 5: 2}, 2: {4: 2, 5: 1}, 3: {4: 2, 5: 1}, 4: {4: 1}, 5: {4: 2, 5: 4}, 6: {5: 1}}


def _sysu(root):
    (root / "exp").mkdir(parents=True)
    (root / "exp" / "train_id.txt").write_text("1,2\n")
    (root / "exp" / "val_id.txt").write_text("3\n")
    (root / "exp" / "test_id.txt").write_text("4,5\n")
    for cam, pid in [(1, 1), (3, 1), (1, 2), (6, 2), (2, 3), (3, 3)]:
        _jpg(root / f"cam{cam}" / f"{pid:04d}" / "0001.jpg")
    for cam, per_id in SYSU_TEST.items():
        for pid, n in per_id.items():
            for k in range(1, n + 1):
                _jpg(root / f"cam{cam}" / f"{pid:04d}" / f"{k:04d}.jpg", 30 * k)
    return root


def _sysu_params(root, **kw):
    return Params(source="sysu_mm01", raw_dir=str(root), image_size=[16, 8],
                  splits={"train": ["train", "val"], "val": "test"}, **kw)


@pytest.fixture(scope="module")
def sysu(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sysu")
    root = _sysu(tmp / "SYSU-MM01")
    stats = run(_sysu_params(root), tmp / "all")
    return root, tmp, stats


def _reference_gallery(data_path, mode="all", trial=0):
    """The reference code's gallery sampling (``process_gallery_sysu`` of the SYSU-MM01 evaluation as AGW / DDAG
    release it), restated: seed Python's random with the trial, then per test id (sorted) per RGB camera one
    ``random.choice`` among the folder's sorted files."""
    random.seed(trial)
    rgb_cameras = ["cam1", "cam2", "cam4", "cam5"] if mode == "all" else ["cam1", "cam2"]
    ids = ["%04d" % int(x) for x in open(os.path.join(data_path, "exp/test_id.txt")).read().strip().split(",")]
    files_rgb = []
    for id in sorted(ids):
        for cam in rgb_cameras:
            img_dir = os.path.join(data_path, cam, id)
            if os.path.isdir(img_dir):
                new_files = sorted([img_dir + "/" + i for i in os.listdir(img_dir)])
                files_rgb.append(random.choice(new_files))
    return files_rgb


def test_sysu_queries_are_the_infrared_images_and_stats_state_the_protocol(sysu):
    root, tmp, stats = sysu
    val = SplitArrays.load(tmp / "all" / "dataset" / "val.npz")
    assert sorted(set(val.cams[val.query].tolist())) == [2, 5]  # cams 3 and 6
    assert int(val.query.sum()) == 4 and (val.modality[val.query] == 1).all()
    assert stats["splits"]["train"]["ids"] == 3  # train_id + val_id: the standard 395-id training set
    s = stats["splits"]["val"]
    assert (s["query_images"], s["search"], s["gallery_cams"], s["gallery_trials"], s["gallery_images_per_trial"],
            s["trial_seeds"]) == (4, "all", [1, 2, 4, 5], 10, 7, list(range(10)))
    assert val.protocol["exclude"] == [[2, 1]]  # camera codes: cam3 queries do not rank cam2


def test_sysu_single_shot_trials_one_image_per_id_per_camera_seeded(sysu):
    root, tmp, stats = sysu
    val = SplitArrays.load(tmp / "all" / "dataset" / "val.npz")
    assert val.galleries.shape == (10, len(val.pids)) and not (val.galleries & val.query).any()
    paths = [str(r.path) for r in load_sysu_mm01(root, "test")]  # the records in the prepared order
    for t, g in enumerate(val.galleries):
        pairs = list(zip(val.pids[g].tolist(), (val.cams[g] + 1).tolist()))
        assert sorted(pairs) == [(4, 1), (4, 2), (4, 4), (4, 5), (5, 1), (5, 2), (5, 5)]  # once each, RGB only
        # the very images the reference code draws for trial t
        assert sorted(paths[i] for i in np.flatnonzero(g)) == sorted(_reference_gallery(str(root), "all", t))
    assert len({g.tobytes() for g in val.galleries}) > 1  # the trials differ …
    again = run(_sysu_params(root), tmp / "again")  # … and are the same on every run
    np.testing.assert_array_equal(SplitArrays.load(tmp / "again" / "dataset" / "val.npz").galleries, val.galleries)
    assert again["splits"]["val"] == stats["splits"]["val"]


def test_sysu_indoor_search_uses_cams_1_and_2(sysu):
    root, tmp, _ = sysu
    stats = run(_sysu_params(root, search="indoor"), tmp / "indoor")
    val = SplitArrays.load(tmp / "indoor" / "dataset" / "val.npz")
    paths = [str(r.path) for r in load_sysu_mm01(root, "test")]
    for t, g in enumerate(val.galleries):
        assert sorted(zip(val.pids[g].tolist(), (val.cams[g] + 1).tolist())) == [(4, 1), (4, 2), (5, 1), (5, 2)]
        assert sorted(paths[i] for i in np.flatnonzero(g)) == sorted(_reference_gallery(str(root), "indoor", t))
    assert stats["splits"]["val"]["gallery_cams"] == [1, 2] and stats["splits"]["val"]["gallery_images_per_trial"] == 4


# chosen cosines of each gallery (pid, camera) to the query groups Q43 (pid 4, cam 3: two images), Q53, Q56
SYSU_SIMS = {(4, 1): [.4, .2, .3], (4, 2): [.6, .1, .5], (4, 4): [.1, .5, .1], (4, 5): [.2, .05, .05],
             (5, 1): [.5, .3, .4], (5, 2): [.05, .6, .6], (5, 5): [.3, .4, .2]}
QUERY_GROUP = {(4, 3): 0, (5, 3): 1, (5, 6): 2}


def _sysu_embeddings(val, override=None):
    sims = {}
    for i, (p, c) in enumerate(zip(val.pids.tolist(), (val.cams + 1).tolist())):
        if (p, c) in SYSU_SIMS:
            sims[i] = (override or {}).get(i, SYSU_SIMS[(p, c)])
    queries = {i: QUERY_GROUP[(p, c)] for i, (p, c) in enumerate(zip(val.pids.tolist(), (val.cams + 1).tolist()))
               if (p, c) in QUERY_GROUP}
    return _embeddings(len(val.pids), queries, sims)


def test_sysu_all_search_by_hand_with_cam3_to_cam2_excluded(sysu):
    """Ranked galleries (one image per (id, cam); cam-2 items struck for the cam-3 queries):

    Q43 ×2: (4,2) .6 struck, (5,1) .5, (4,1) .4 +, (5,5) .3, (4,5) .2 +, (4,4) .1 +, (5,2) struck
            → positives at 2, 4, 5: AP (1/2 + 2/4 + 3/5)/3 = 8/15, Rank-1 miss
    Q53:    (5,2) .6 struck, (4,4) .5, (5,5) .4 +, (5,1) .3 +, (4,1) .2, (4,2) struck, (4,5) .05
            → positives at 2, 3: AP (1/2 + 2/3)/2 = 7/12, miss
    Q56:    (5,2) .6 +, (4,2) .5, (5,1) .4 +, (4,1) .3, (5,5) .2 +, … → positives at 1, 3, 5: AP (1 + 2/3 + 3/5)/3
            = 34/45, hit
    mAP = (2·8/15 + 7/12 + 34/45)/4, Rank-1 = 1/4 — were cam 2 ranked for cam 3, Q43 and Q53 would hit at rank 1.
    One (4,1) image (0002) is made more similar to Q43 (.55 > .5): in the trials that draw it Q43 ranks (4,1)
    first → AP (1 + 2/4 + 3/5)/3 = 7/10, hit; the reported value is the mean of the trials'."""
    root, tmp, _ = sysu
    val = SplitArrays.load(tmp / "all" / "dataset" / "val.npz")
    special = [i for i, r in enumerate(load_sysu_mm01(root, "test"))
               if r.path.parts[-3:] == ("cam1", "0004", "0002.jpg")]
    emb = _sysu_embeddings(val, {special[0]: [.55, .2, .3]})
    m = evaluate_split(emb, val, {**VISUAL_PAIRS, **SAME_PAIR})["ir_rgb"]
    base, drawn = Fr(7, 12) + Fr(34, 45), [bool(g[special[0]]) for g in val.galleries]
    assert 0 < sum(drawn) < 10  # the fixture's trials draw it sometimes, not always
    expect = [((2 * Fr(7, 10) + base) / 4, Fr(3, 4)) if d else ((2 * Fr(8, 15) + base) / 4, Fr(1, 4)) for d in drawn]
    assert len(m["trials"]) == 10 and m["queries"] == 4 and m["gallery"] == 7
    for t, (mp, r1) in zip(m["trials"], expect):
        assert _close(t["map"], mp) and _close(t["rank1"], r1)
    assert _close(m["map"], sum(mp for mp, _ in expect) / 10) and _close(m["rank1"], sum(r for _, r in expect) / 10)
    assert "all-search single-shot" in m["protocol"]


def test_sysu_indoor_search_by_hand(sysu):
    """Indoor galleries (4,1), (4,2), (5,1), (5,2): Q43 ×2: (5,1), (4,1)+ → AP 1/2 (cam 2 struck); Q53: (5,1)+ → 1;
    Q56: (5,2)+, (4,2), (5,1)+ → (1 + 2/3)/2 = 5/6. mAP = (1 + 1 + 5/6)/4 = 17/24, Rank-1 = 2/4."""
    root, tmp, _ = sysu
    if not (tmp / "indoor").exists():
        run(_sysu_params(root, search="indoor"), tmp / "indoor")
    val = SplitArrays.load(tmp / "indoor" / "dataset" / "val.npz")
    m = evaluate_split(_sysu_embeddings(val), val, VISUAL_PAIRS)["ir_rgb"]
    assert _close(m["map"], Fr(17, 24)) and _close(m["rank1"], Fr(1, 2)) and m["gallery"] == 4
    assert all(_close(t["map"], Fr(17, 24)) for t in m["trials"])


def test_sysu_bad_input_names_the_file(tmp_path):
    root = _sysu(tmp_path / "SYSU-MM01")
    _jpg(root / "cam1" / "0007" / "0001.jpg")  # id 7: RGB only
    (root / "exp" / "test_id.txt").write_text("7\n")
    with pytest.raises(DataError, match=r"SYSU-MM01: no infrared images \(cam3, cam6\) for the validation ids"):
        run(_sysu_params(root), tmp_path / "out")
    _jpg(root / "cam6" / "0008" / "0001.jpg")  # id 8: infrared only
    (root / "exp" / "test_id.txt").write_text("8\n")
    with pytest.raises(DataError, match=r"SYSU-MM01: no RGB images from the all-search gallery cameras.*cam1/"):
        run(_sysu_params(root), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    (root / "exp" / "test_id.txt").write_text("4,x\n")
    with pytest.raises(DataError, match=r"test_id\.txt:1: bad person id 'x'"):
        run(_sysu_params(root), tmp_path / "out")
    with pytest.raises(ValueError, match="search 'outdoor'"):
        sysu_mm01_protocol(load_sysu_mm01(root, "train"), "outdoor")
    with pytest.raises(ValidationError, match="search"):
        _sysu_params(root, search="outdoor")


# ------------------------------------------------------------------------------------------------- the metric itself
def test_exclusion_and_metrics_agree_with_torchmetrics():
    """Rank-1 and mAP after the junk and excluded-camera rules equal torchmetrics' hit rate and MAP on the same
    rankings with those entries removed by hand."""
    from torchmetrics.retrieval import RetrievalHitRate, RetrievalMAP

    rng = np.random.default_rng(0)
    dist = rng.random((20, 40))
    qp, gp = rng.integers(0, 6, 20), rng.integers(0, 6, 40)
    qc, gc = rng.integers(0, 4, 20), rng.integers(0, 4, 40)
    qp[0] = 9  # nobody to find: skipped by both
    exclude = [(2, 1), (3, 0)]
    ours = retrieval_metrics(dist, qp, gp, qc, gc, exclude=exclude)
    preds, target, index = [], [], []
    for i in range(20):
        keep = ~((gp == qp[i]) & (gc == qc[i])) & ~np.isin(gc, [g for q, g in exclude if q == qc[i]])
        if not (gp[keep] == qp[i]).any():
            continue
        preds.append(torch.from_numpy(2 - dist[i, keep]))
        target.append(torch.from_numpy(gp[keep] == qp[i]))
        index.append(torch.full((int(keep.sum()),), i))
    preds, target, index = torch.cat(preds), torch.cat(target), torch.cat(index)
    assert ours["queries"] == len(index.unique()) == 19
    assert ours["map"] == pytest.approx(float(RetrievalMAP()(preds, target, indexes=index)), abs=1e-6)
    assert ours["rank1"] == pytest.approx(float(RetrievalHitRate(top_k=1)(preds, target, indexes=index)), abs=1e-6)
    assert ours["map"] != pytest.approx(retrieval_metrics(dist, qp, gp, qc, gc)["map"])  # the exclusion matters


def test_split_protocol_round_trip_and_checks(tmp_path):
    imgs = np.zeros((3, 4, 2, 3), np.uint8)
    args = (imgs, np.array([1, 1, 2]), np.array([0, 1, 0]), np.zeros(3, np.int64), {})
    s = SplitArrays(*args, query=np.array([1, 0, 0], bool), galleries=np.array([[0, 1, 1]], bool),
                    protocol={"name": "x", "pair": ["rgb", "rgb"], "exclude": [], "description": "d"})
    s.save(tmp_path / "v.npz")
    back = SplitArrays.load(tmp_path / "v.npz")
    assert back.query.tolist() == [True, False, False] and back.galleries.tolist() == [[False, True, True]]
    assert back.protocol == s.protocol
    SplitArrays(*args).save(tmp_path / "plain.npz")
    assert SplitArrays.load(tmp_path / "plain.npz").protocol is None  # no protocol: leave-one-out as before
    with pytest.raises(ValueError, match="both a query and in a gallery"):
        SplitArrays(*args, query=np.array([1, 0, 0], bool), galleries=np.array([[1, 1, 1]], bool), protocol={})
    with pytest.raises(ValueError, match=r"do not match 3 images"):
        SplitArrays(*args, query=np.array([1, 0], bool), galleries=np.array([[0, 1, 1]], bool), protocol={})
    with pytest.raises(ValueError, match="all three or none"):
        SplitArrays(*args, query=np.array([1, 0, 0], bool))
