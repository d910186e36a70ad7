"""The OCR stages' skeleton: parameters refused before any work, the parameter choices that mirror the code, and
OCR model files."""
import typing

import pytest
import torch

from tests.conftest import assert_damaged_model_files_named, assert_misspelt_key_refused


@pytest.mark.parametrize("stage, section, right, wrong, where", [
    (["tasks.ocr.prepare"], "tiny.prepare", "max_words", "max_word", "{source: synthetic"),
    (["tasks.ocr.train", "det"], "tiny.train.det", "config", "confg", "    det:\n      "),
    (["tasks.ocr.export"], "tiny.export", "calibration_images", "calibration_imgs", "{opset: 17"),
    (["tasks.ocr.evaluate"], "tiny.evaluate", "usd_per_cpu_hour", "usd_per_cpu_hours", "{threads: 1"),
])
def test_a_misspelt_key_is_refused_with_file_section_key_and_suggestion(
        module_repo, stage, section, right, wrong, where):
    # `where` opens the first such section: the tiny profile's
    assert_misspelt_key_refused(module_repo, "ocr", f"{right}:", f"{wrong}:", stage, f"`{section}.{wrong}`",
                                f"did you mean `{right}`?", after=where)


def test_parameter_choices_are_the_codes():
    """The stage modules name the engines and edge cases without importing the heavy modules that define them."""
    from tasks.ocr.engines import ENGINES
    from tasks.ocr.evaluate import Engine
    from tasks.ocr.prepare import EdgeCase
    from tasks.ocr.render import EDGE_CASES

    assert typing.get_args(Engine) == ENGINES
    assert typing.get_args(EdgeCase) == EDGE_CASES


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    from tasks.ocr.models import CRNN, DBNet, save_ocr_model

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("models")
    det = DBNet(widths=(8, 8, 16, 16, 16), neck=16, depth=(1, 1, 1, 1))
    save_ocr_model(root / "det.pt", det, "det", {"widths": [8, 8, 16, 16, 16], "depth": [1, 1, 1, 1], "neck": 16},
                   name="det")
    rec = CRNN(11, widths=(8, 8, 16, 16), hidden=8)
    save_ocr_model(root / "rec.pt", rec, "rec", {"arch": "crnn", "num_classes": 11, "widths": [8, 8, 16, 16],
                                                  "hidden": 8}, name="teacher")
    return {"det": (root / "det.pt", det), "rec": (root / "rec.pt", rec)}


@pytest.mark.parametrize("kind", ["det", "rec"])
def test_a_model_file_round_trips(model_files, kind):
    from tasks.ocr.models import load_ocr_model

    path, model = model_files[kind]
    loaded, rec = load_ocr_model(path)
    assert rec["kind"] == kind and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_a_damaged_model_file_is_named(model_files, tmp_path):
    from tasks.ocr.models import load_ocr_model

    assert_damaged_model_files_named(load_ocr_model, model_files["rec"][0], tmp_path)


@pytest.mark.parametrize("arch", [
    {"arch": "os.system", "num_classes": 11},                       # not a known recogniser
    {"arch": "crnn", "num_classes": 11, "hidden": "__import__('os')"},  # not a plain number
    {"arch": "crnn", "num_classes": 11, "act": 3},                  # not an argument of the network
])
def test_a_model_file_builds_only_known_networks_from_plain_values(model_files, tmp_path, arch):
    from common.modelfile import ModelFileError, save_model_file
    from tasks.ocr.models import FORMAT, load_ocr_model

    path = tmp_path / "crafted.pt"
    save_model_file(path, FORMAT, "rec", arch=arch, state_dict={}, meta={})
    with pytest.raises(ModelFileError, match="not a known OCR network"):
        load_ocr_model(path)
