"""Model files: one versioned format (common/modelfile.py); loading never runs code; a truncated, empty or
foreign file stops with its path."""
from __future__ import annotations

import io
import pickle

import pytest
import torch

from common.modelfile import ModelFileError, load_model_file, read_meta, save_model_file
from tests.conftest import needs


def test_round_trip_and_format_checks(tmp_path):
    p = save_model_file(tmp_path / "m.pt", "edgerepro.test.v1", "net", state_dict={"w": torch.ones(2)},
                        config={"width": 8}, meta={"imgsz": 64})
    ck = load_model_file(p, "edgerepro.test.v1", "net")
    assert torch.equal(ck["state_dict"]["w"], torch.ones(2)) and ck["config"] == {"width": 8}
    assert read_meta(p, "edgerepro.test.v1") == {"imgsz": 64}
    assert oct(p.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # readable like DVC's outputs
    with pytest.raises(ModelFileError, match=r"m.pt: not a edgerepro.other.v1 model file \(its format is 'edgerepro.test.v1'\)"):
        load_model_file(p, "edgerepro.other.v1")
    with pytest.raises(ModelFileError, match=r"m.pt: a edgerepro.test.v1 file of kind 'net'; expected 'teacher'"):
        load_model_file(p, "edgerepro.test.v1", "teacher")


def _umask() -> int:
    import os

    m = os.umask(0)
    os.umask(m)
    return m


def test_truncated_empty_and_missing_files_are_named(tmp_path):
    p = save_model_file(tmp_path / "m.pt", "edgerepro.test.v1", state_dict={"w": torch.randn(1000)})
    data = p.read_bytes()
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("not a model\n")
    for name in ("half.pt", "empty.pt", "text.pt"):
        with pytest.raises(ModelFileError, match=rf"{name}: truncated or not a model file"):
            load_model_file(tmp_path / name, "edgerepro.test.v1")
    with pytest.raises(FileNotFoundError, match=r"nowhere.pt: model file not found"):
        load_model_file(tmp_path / "nowhere.pt", "edgerepro.test.v1")


class _Boom:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickled_objects_are_refused_without_running(tmp_path, capsys):
    buf = io.BytesIO()
    torch.save({"format": "edgerepro.test.v1", "x": _Boom()}, buf)
    (tmp_path / "evil.pt").write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError, match=r"evil.pt: not an edgerepro model file; refused to unpickle it"):
        load_model_file(tmp_path / "evil.pt", "edgerepro.test.v1")
    assert "code ran" not in capsys.readouterr().out
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Boom()))
    with pytest.raises(ModelFileError):
        load_model_file(raw, "edgerepro.test.v1")
    assert "code ran" not in capsys.readouterr().out


@needs("ultralytics")  # common.adapters.ultralytics (the detection / pose extra)
def test_yolo_file_with_an_executable_activation_is_refused(tmp_path):
    """ultralytics' model parser evals a YAML's `activation` string: a file carrying its own YAML (format v2, or
    a v3 naming a path) is refused before anything reaches the parser, and nothing runs."""
    from common.adapters.ultralytics import build_model, load_model, save_model

    marker = tmp_path / "pwned"
    model = build_model("yolov8n.yaml", 10)
    save_model(tmp_path / "good.pt", model, imgsz=64)
    assert load_model(tmp_path / "good.pt").yaml["yaml_file"] == "yolov8n.yaml"

    evil_yaml = dict(model.yaml)
    evil_yaml["activation"] = f"__import__('pathlib').Path({str(marker)!r}).write_text('x') or torch.nn.SiLU()"
    buf = io.BytesIO()
    torch.save({"format": "edgerepro.yolov8.v2", "model_yaml": evil_yaml, "state_dict": model.state_dict()}, buf)
    (tmp_path / "evil_v2.pt").write_bytes(buf.getvalue())
    with pytest.raises(ModelFileError, match=r"evil_v2.pt: refused: its stored model YAML differs from ultralytics' "
                                             r"yolov8n.yaml in 'activation'"):
        load_model(tmp_path / "evil_v2.pt")

    evil_cfg = tmp_path / "yolov8n.yaml"
    evil_cfg.write_text(f"activation: \"__import__('pathlib').Path({str(marker)!r}).write_text('x')\"\n")
    for arch in (str(evil_cfg), "../yolov8n.yaml", "nonexistent-model.yaml"):
        save_model_file(tmp_path / "evil_v3.pt", "edgerepro.yolov8.v3", "detect", arch=arch, nc=10,
                        state_dict=model.state_dict())
        with pytest.raises(ModelFileError, match=r"evil_v3.pt: refused"):
            load_model(tmp_path / "evil_v3.pt")
    assert not marker.exists(), "loading a model file ran code"


@needs("ultralytics")  # common.adapters.ultralytics (the detection / pose extra)
def test_truncated_yolo_file_is_named(tmp_path):
    from common.adapters.ultralytics import build_model, load_model, save_model

    save_model(tmp_path / "m.pt", build_model("yolov8n.yaml", 10))
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[:1000])
    with pytest.raises(ModelFileError, match=r"cut.pt: truncated or not a model file"):
        load_model(tmp_path / "cut.pt")
