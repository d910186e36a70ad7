"""The ReID stages' skeleton: parameters refused before any work, the student variants (their configuration and
seed reach the run), the parameter choices that mirror the code, and ReID model files."""
import typing

import pytest
import torch

from tests.conftest import assert_damaged_model_files_named, assert_misspelt_key_refused, copy_repo


@pytest.mark.parametrize("stage, section, right, wrong, where", [
    (["tasks.reid.prepare"], "tiny.prepare", "captions_per_id", "caption_per_id", "{source: synthetic"),
    (["tasks.reid.train", "teacher"], "tiny.train.teacher", "config", "confg", "    teacher:\n      "),
    (["tasks.reid.train", "student"], "tiny.train.student", "variants", "variant", "student: {config: *train_tiny, "),
    (["tasks.reid.evaluate"], "tiny.evaluate", "calibration_images", "calibration_imgs", "{threads: 1"),
])
def test_a_misspelt_key_is_refused_with_file_section_key_and_suggestion(
        module_repo, stage, section, right, wrong, where):
    # `where` opens the first such section: the tiny profile's
    assert_misspelt_key_refused(module_repo, "reid", f"{right}:", f"{wrong}:", stage, f"`{section}.{wrong}`",
                                f"did you mean `{right}`?", after=where)


def test_a_misspelt_key_in_a_variant_is_refused_with_the_section_path(module_repo):
    # the variants are written once, at the top (an anchor): the key path is the section's, the line the anchor's
    assert_misspelt_key_refused(module_repo, "reid", "  alone: {}", "  alone: {sed: 1}",
                                ["tasks.reid.train", "student"], "`tiny.train.student.variants.alone.sed`",
                                "did you mean `seed`?")


def test_parameter_choices_are_the_codes():
    """prepare names the modalities and sources without importing the data module that defines them."""
    from tasks.reid.data import LOADERS, MODALITIES
    from tasks.reid.prepare import Modality, Source

    assert typing.get_args(Modality) == MODALITIES
    assert typing.get_args(Source) == ("synthetic", *LOADERS)


def test_tuning_then_every_variant_with_every_seed(monkeypatch, tmp_path):
    """The student stage first tries each tuned weight alone (first seed, validated on the tuning identities),
    chooses the best value by that score, then trains every variant × seed with the chosen values in place of the
    weights it turns on; a first-seed run identical to a tuning run is that run (copied, not retrained)."""
    import json

    from common.stage import StageId, load_params
    from tasks.reid import train

    calls = []
    scores = {("kd_weight", 1.0): 0.30, ("kd_weight", 4.0): 0.40, ("pcm_weight", 0.25): 0.50,
              ("pcm_weight", 1.0): 0.45}

    def fake_train_one(name, params, out_dir, variant=None, over=None):
        out = out_dir
        cfg = over.as_dict() if over is not None else {}
        init = cfg.get("model", {}).get("init_args", {})
        calls.append((variant, init, cfg.get("data", {}), over.seed))
        weights = tuple(sorted((k, v) for k, v in init.items() if k in train.TUNABLE))
        val = scores[weights[0]] if variant.startswith("tune.") else 0.1 * len(calls)
        out.mkdir(parents=True)
        (out / "model.pt").write_bytes(b"weights of " + variant.encode())
        m = {"val/map": val, "name": variant}
        (out / "metrics.json").write_text(json.dumps(m))
        return m

    monkeypatch.setattr(train, "train_one", fake_train_one)
    monkeypatch.chdir(copy_repo(tmp_path / "repo"))
    (tmp_path / "repo" / "data/reid/prepare/dataset").mkdir(parents=True)
    (tmp_path / "repo" / "data/reid/prepare/dataset/tune.npz").write_bytes(b"")
    params = load_params(train.StudentParams, StageId("reid", "train.student"))
    assert list(params.variants) == ["alone", "kd", "pcm", "pcm_fr"]
    # parallel 1: the fake trainer is a closure, which worker processes cannot receive (tests/common/test_parallel.py
    # covers runs side by side)
    params = params.model_copy(update={"seeds": 3, "parallel": 1,
                                       "tune": {"kd_weight": [1.0, 4.0], "pcm_weight": [0.25, 1.0]}})
    out = tmp_path / "out"
    result = train.train_students(params, out)
    assert result["chosen"] == {"kd_weight": 4.0, "pcm_weight": 0.25}
    tuning = [c for c in calls if c[0].startswith("tune.")]
    assert [c[0] for c in tuning] == ["tune.kd_weight@1", "tune.kd_weight@4", "tune.pcm_weight@0p25",
                                      "tune.pcm_weight@1"]
    assert all(c[2] == {"val_split": "tune"} and c[3] == params.seed for c in tuning)
    assert all(len(c[1]) == 1 for c in tuning)  # one term on at a time
    trained = {c[0]: c for c in calls if not c[0].startswith("tune.")}
    s0, s1, s2 = params.seed, params.seed + 1, params.seed + 2
    # kd and pcm reuse their tuning run at the first seed; alone and pcm_fr train every seed
    assert set(trained) == {f"alone.s{s}" for s in (s0, s1, s2)} | {f"kd.s{s}" for s in (s1, s2)} | \
        {f"pcm.s{s}" for s in (s1, s2)} | {f"pcm_fr.s{s}" for s in (s0, s1, s2)}
    assert trained[f"kd.s{s1}"][1]["kd_weight"] == 4.0 and trained[f"kd.s{s1}"][3] == s1
    assert trained[f"pcm_fr.s{s0}"][1] == {"pcm_weight": 0.25, "fr_weight": 1.0}  # FR is not tuned
    assert "kd_weight" not in trained[f"alone.s{s0}"][1] and trained[f"alone.s{s2}"][2] == {}
    assert (out / "kd/seeds" / str(s0) / "model.pt").read_bytes() == b"weights of tune.kd_weight@4"
    assert (out / "kd/model.pt").read_bytes() == b"weights of tune.kd_weight@4"  # the first seed: deployed
    doc = json.loads((out / "kd/seeds.json").read_text())
    assert doc["seeds"] == [s0, s1, s2] and doc["weights"] == {"kd_weight": 4.0} and doc["tuned"] == {"kd_weight": 4.0}
    assert doc["runs"][str(s0)]["reused_from"] == "tune/kd_weight@4"
    tune = json.loads((out / "tune.json").read_text())
    assert tune["chosen"] == {"kd_weight": 4.0, "pcm_weight": 0.25} and len(tune["runs"]) == 4


def test_tuning_without_tuning_identities_stops_with_the_settings(monkeypatch, tmp_path):
    from common.stage import StageId, load_params
    from tasks.reid import train

    monkeypatch.chdir(copy_repo(tmp_path / "repo"))
    params = load_params(train.StudentParams, StageId("reid", "train.student"))
    with pytest.raises(SystemExit, match="tune_ids"):
        train.train_students(params, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def student_file(tmp_path_factory):
    from tasks.reid.module import StudentModule

    torch.manual_seed(0)
    student = StudentModule(num_classes=5, dim=16, width=0.5)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    student.save(path, name="alone")
    return path, student


def test_a_student_file_round_trips(student_file):
    from common.modelfile import load_model_file
    from tasks.reid.module import FORMAT, load_model

    path, student = student_file
    back = load_model(path)
    x = torch.rand(2, 3, 64, 32)
    student.model.eval()
    assert not back.training and torch.allclose(back(x), student.model(x), atol=1e-6)
    ck = load_model_file(path, FORMAT)
    assert ck["kind"] == "student" and ck["name"] == "alone"
    assert ck["config"] == {"num_classes": 5, "dim": 16, "backbone": "mobilenet_v3_small", "width": 0.5}


def test_a_damaged_model_file_is_named(student_file, tmp_path):
    from tasks.reid.module import load_model

    assert_damaged_model_files_named(load_model, student_file[0], tmp_path)


@pytest.mark.parametrize("kind, config", [
    ("student", {"num_classes": 5, "dim": 16, "backbone": "os.system", "width": 1.0}),       # not a known backbone
    ("student", {"num_classes": "__import__('os')", "dim": 16, "backbone": "mobilenet_v3_small", "width": 1.0}),
    ("student", {"num_classes": 5, "dim": 16, "backbone": "mobilenet_v3_small", "width": 1.0, "act": 3}),
    ("teacher", {"num_classes": 5, "dim": 16, "backbone": "resnet18", "lora_layers": ["x"], "lora_ranks": [2],
                 "lora_alpha_ratio": 2.0, "lora_dropout": 0.0}),
])
def test_a_model_file_builds_only_known_networks_from_plain_values(tmp_path, kind, config):
    from common.modelfile import ModelFileError, save_model_file
    from tasks.reid.module import FORMAT, load_model

    path = tmp_path / "crafted.pt"
    save_model_file(path, FORMAT, kind, config=config, state_dict={})
    with pytest.raises(ModelFileError, match=f"not a known ReID {kind} network"):
        load_model(path)
