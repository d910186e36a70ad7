"""The teacher's text encoder (offline, pretrained, hierarchical LoRA), the models, the PK sampler and the
student's distillation wiring."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def text_encoder():
    from tasks.reid.models import TextEncoder

    return TextEncoder(dim=8, lora_layers=[0, 2, 5], lora_ranks=[2, 4, 8])


def test_lora_trains_only_adapters_at_several_depths(text_encoder):
    trainable = [n for n, p in text_encoder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("neck.") for n in trainable), trainable
    ranks = {}
    for n, p in text_encoder.named_parameters():
        if "lora_A" in n:
            layer = int(n.split("layer.")[1].split(".")[0])
            ranks.setdefault(layer, set()).add(p.shape[0])
    assert ranks == {0: {2}, 2: {4}, 5: {8}}  # hierarchical: one rank per depth
    frozen = sum(p.numel() for n, p in text_encoder.named_parameters() if not p.requires_grad)
    assert frozen > 20_000_000  # the pretrained MiniLM stays frozen
    # a training step changes adapters only
    from tasks.reid.models import load_tokenizer

    tok = load_tokenizer()
    enc = tok(["a person in a red shirt", "a man with a backpack"], padding=True, return_tensors="pt")
    before = {n: p.detach().clone() for n, p in text_encoder.named_parameters()}
    opt = torch.optim.SGD([p for p in text_encoder.parameters() if p.requires_grad], lr=0.1)
    text_encoder.train()
    text_encoder(enc["input_ids"], enc["attention_mask"]).pow(2).sum().backward()
    opt.step()
    changed = {n for n, p in text_encoder.named_parameters() if not torch.equal(before[n], p)}
    assert changed and all("lora_" in n or n.startswith("neck.") for n in changed)


def test_text_encoder_is_the_real_pretrained_model_loaded_offline():
    # a fresh interpreter with the hub switched off and no network proxy: loads from the package directory, and
    # the sentence embeddings are meaningful (a paraphrase is closer than an unrelated sentence)
    code = (
        "import torch, torch.nn.functional as F\n"
        "from tasks.reid.models import TextEncoder, load_tokenizer\n"
        "m = TextEncoder(dim=8, lora_layers=[], lora_ranks=[]); tok = load_tokenizer(); m.eval()\n"
        "s = ['a woman wearing a red dress', 'a lady in a red gown', 'the stock market fell sharply today']\n"
        "e = tok(s, padding=True, return_tensors='pt')\n"
        "h = m.encoder(**e).last_hidden_state; mk = e['attention_mask'].unsqueeze(-1)\n"
        "v = F.normalize((h * mk).sum(1) / mk.sum(1), dim=1)\n"
        "print(float(v[0] @ v[1]), float(v[0] @ v[2]))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HTTPS_PROXY": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HF_HOME": "/nonexistent-hf-home"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    para, other = map(float, out.stdout.split())
    assert para > 0.6 and other < 0.3 and para > other + 0.4


def test_model_shapes_and_param_ratio():
    from tasks.reid.models import StudentModel, VisualEncoder, count_params

    x = torch.rand(3, 3, 64, 32)
    s = StudentModel(num_classes=10).eval()
    assert s(x).shape == (3, 128)
    v = VisualEncoder("resnet18", 256).eval()
    assert v(x).shape == (3, 256)
    assert count_params(v) > 8 * count_params(s.vision)
    with pytest.raises(ValueError, match="unknown backbone"):
        VisualEncoder("vgg", 8)


def test_pk_sampler_batches_hold_cross_modal_positives():
    from tasks.reid.module import PKBatches

    labels = np.repeat(np.arange(12), 6)
    modality = np.tile([0, 0, 0, 1, 1, 2], 12)
    sampler = PKBatches(labels, modality, p=4, k=4, seed=0)
    batches = list(sampler)
    assert len(batches) == len(labels) // 16
    for b in batches:
        assert len(b) == 16 and len(set(labels[b])) == 4
        for pid in set(labels[b]):
            assert set(modality[[i for i in b if labels[i] == pid]]) == {0, 1, 2}
    assert list(PKBatches(labels, modality, 4, 4, seed=0)) == batches  # deterministic per (seed, epoch)


def test_student_distillation_wiring(tmp_path):
    from tasks.reid.module import StudentModule, TeacherModule, load_model

    teacher = TeacherModule(num_classes=5, lora_layers=[5], lora_ranks=[2])
    teacher.save(tmp_path / "t.pt")
    back = load_model(tmp_path / "t.pt")
    x = torch.rand(2, 3, 64, 32)
    teacher.model.eval()
    assert torch.allclose(back(x), teacher.model(x), atol=1e-5)
    st = StudentModule(num_classes=5, teacher=str(tmp_path / "t.pt"), pcm_weight=1.0, fr_weight=0.5)
    assert [type(t).__name__ for t in st.distill_terms] == ["PCMLoss", "FeatureRelationLoss"]
    assert all(not p.requires_grad for p in st.teacher.parameters())
    batch = {"images": torch.rand(8, 3, 64, 32), "labels": torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])}
    st.train()
    loss, items = st.compute_loss(batch)
    assert {"distill_0", "distill_1", "pcm_k", "id", "triplet"} <= set(items) and torch.isfinite(loss)
    alone = StudentModule(num_classes=5)
    assert alone.teacher is None
    (tmp_path / "bad.pt").write_bytes(b"x")
    with pytest.raises(Exception):
        load_model(tmp_path / "bad.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a edgerepro.reid.v1 model file"):
        load_model(tmp_path / "other.pt")


def test_teacher_without_captions_trains_on_the_visual_modalities(tmp_path, capsys):
    # SYSU-MM01 / Market-1501 have no descriptions: the teacher says so and drops the text branch
    from tasks.reid.data import synthetic_split
    from tasks.reid.module import ReIDDataModule, TeacherModule

    for split, ids in (("train", range(4)), ("val", range(4, 6))):
        s = synthetic_split(0, ids, {"rgb": (2, 1), "ir": (1, 1), "sketch": (1, 1)}, (64, 32), progress=False)
        s.captions = {}
        s.save(tmp_path / f"{split}.npz")
    dm = ReIDDataModule(str(tmp_path), batch_ids=2, per_id=3, text=True)
    dm.setup()
    assert dm.text is False and "no captions" in capsys.readouterr().out
    batch = next(iter(dm.train_dataloader()))
    assert "text_ids" not in batch and batch["images"].shape == (6, 3, 64, 32)
    teacher = TeacherModule(num_classes=dm.num_classes, lora_layers=[5], lora_ranks=[2])
    loss, items = teacher.task_loss(batch)
    assert torch.isfinite(loss) and set(items) == {"id", "triplet", "contrastive"}
