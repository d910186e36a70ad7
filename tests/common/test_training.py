"""The common recipe on a toy task that trains for real on CPU."""
import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from common.distill import FeatureHintLoss
from common.training.callbacks import RampedEMA
from common.training.module import DistillTerm, TaskModule


class Toy(TaskModule):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))

    def task_loss(self, batch):
        x, y = batch
        loss = nn.functional.mse_loss(self.model(x), y)
        return loss, {"mse": loss.detach()}

    def model_inputs(self, batch):
        return batch[0]


def loader(n=64, bs=4):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x.sum(1, keepdim=True)
    return DataLoader(TensorDataset(x, y), batch_size=bs)


def trainer(**kw):
    return L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, **kw)


def test_accumulates_to_nominal_batch_and_learns():
    L.seed_everything(0)
    m = Toy(nominal_batch_size=16, warmup_epochs=0.0, optimizer=lambda p: torch.optim.AdamW(p, lr=5e-2))
    x, y = loader().dataset.tensors

    def mse():
        with torch.no_grad():
            return nn.functional.mse_loss(m.model.eval()(x), y).item()

    before = mse()
    t = trainer(max_epochs=10)
    t.fit(m.train(), loader())
    assert t.global_step == 10 * 16 // 4  # 16 batches of 4 per epoch, one optimizer step per 4 batches
    assert mse() < 0.5 * before


def test_warmup_ramps_accumulation_and_lr():
    m = Toy(nominal_batch_size=16, warmup_epochs=1.0, optimizer=lambda p: torch.optim.AdamW(p, lr=1e-2))
    lrs = []

    class Spy(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, *a):
            lrs.append(pl_module.optimizers().param_groups[0]["lr"])

    t = trainer(max_epochs=2, callbacks=[Spy()])
    t.fit(m, loader())
    assert lrs[0] == 0.0 and lrs[15] == pytest.approx(15 / 16 * 1e-2)  # ramp over the first epoch
    assert all(a <= b for a, b in zip(lrs[:16], lrs[1:16]))
    assert lrs[16] == pytest.approx(1e-2 * (1 - 1 / 2 * 0.99))  # ramp lands on lf(1)·lr, the decayed rate
    assert t.global_step > 2 * 16 // 4  # more steps than without warm-up: accumulation ramps 1 → 4


def test_param_groups_split_decay():
    m = Toy(weight_decay=0.1)
    groups = {g["param_group"]: g for g in m.param_groups()}
    assert len(groups["weight"]["params"]) == 2 and groups["weight"]["weight_decay"] == 0.1
    assert len(groups["norm"]["params"]) == 1 and groups["norm"]["weight_decay"] == 0.0
    assert len(groups["bias"]["params"]) == 3


def test_norm_lr_factor_scales_only_the_norm_group_and_follows_the_schedule():
    L.seed_everything(0)
    m = Toy(warmup_epochs=0.0, norm_lr_factor=50.0)
    lrs = {}

    class Spy(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            lrs[trainer.current_epoch] = {g["param_group"]: g["lr"] for g in pl_module.optimizers().param_groups}

    trainer(max_epochs=2, callbacks=[Spy()]).fit(m, loader())
    for e in (0, 1):
        assert lrs[e]["norm"] == pytest.approx(50.0 * lrs[e]["weight"]) and lrs[e]["bias"] == lrs[e]["weight"]
    assert lrs[1]["norm"] < lrs[0]["norm"]  # the linear decay applies to the scaled rate too
    with pytest.raises(ValueError, match="norm_lr_factor"):
        Toy(norm_lr_factor=0.0)


def test_distillation_adds_weighted_term_and_keeps_teacher_frozen():
    L.seed_everything(0)
    student = Toy(warmup_epochs=0.0)
    teacher = Toy().model
    t0 = {k: v.clone() for k, v in teacher.state_dict().items()}
    student.set_teacher(teacher, [DistillTerm("2", "2", FeatureHintLoss(), weight=0.5)])
    batch = next(iter(loader()))
    student.train()
    loss, items = student.compute_loss(batch)
    task, _ = student.task_loss(batch)
    # recompute the hint by hand
    h_s = student.model[:3](batch[0])
    h_t = teacher[:3](batch[0])
    assert loss.item() == pytest.approx(task.item() + 0.5 * nn.functional.mse_loss(h_s, h_t).item(), rel=1e-5)
    assert "distill_0" in items
    trainer(max_epochs=1).fit(student, loader())
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in t0.items())  # frozen, BN stats included
    assert all(id(p) not in {id(q) for g in student.param_groups() for q in g["params"]} for p in teacher.parameters())


def test_ramped_ema_follows_early_and_averages_late():
    ema = RampedEMA(decay=0.9, tau=1.0)
    fn = ema._kwargs["avg_fn"]
    a, c = torch.zeros(1), torch.ones(1)
    early = fn(a, c, torch.tensor(0.0))  # d = 0 → copy
    late = fn(a, c, torch.tensor(1000.0))  # d → 0.9
    assert early.item() == pytest.approx(1.0)
    assert late.item() == pytest.approx(0.1, rel=1e-4)


def test_ema_weights_are_used_after_fit():
    L.seed_everything(0)
    m = Toy(warmup_epochs=0.0, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    ema = RampedEMA(decay=0.5, tau=1e-9)
    trainer(max_epochs=1, callbacks=[ema]).fit(m, loader())
    avg = ema._average_model.module.model.state_dict()
    assert all(torch.equal(avg[k], v) for k, v in m.model.state_dict().items())


class ToyVal(Toy):
    def validation_step(self, batch, batch_idx):
        self.log("val/epoch_seen", float(self.current_epoch))


def test_epoch_summary_prints_this_epochs_validation(capsys):
    from common.training.callbacks import EpochSummary

    L.seed_everything(0)
    m = ToyVal(warmup_epochs=0.0)
    trainer(max_epochs=2, callbacks=[EpochSummary(only_when_not_tty=False)]).fit(m, loader(), loader(n=8))
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and lines[1].startswith("epoch 2/2")
    assert "val/epoch_seen=0" in lines[0] and "val/epoch_seen=1" in lines[1]  # not the previous epoch's value


def test_a_training_run_prints_no_warning_a_user_cannot_act_on(tmp_path, capsys, monkeypatch, recwarn):
    """No LightningCLI `args`/`sys.argv` warning (a test runner's or a stage's own command line), no litlogger /
    litmodels advert: what a training stage prints is about the run."""
    import logging
    import sys

    from lightning.pytorch.demos.boring_classes import BoringDataModule, BoringModel

    from common.training.cli import run_cli

    monkeypatch.setattr(sys, "argv", ["pytest", "-q", "some/test.py"])
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addHandler(handler)
    try:
        run_cli(BoringModel, BoringDataModule, args=[
            "fit", "--model=lightning.pytorch.demos.boring_classes.BoringModel", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
            "--trainer.log_every_n_steps=1", f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false",
            "--trainer.enable_checkpointing=false", "--trainer.enable_progress_bar=false"], prog="t")
    finally:
        for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
            logging.getLogger(name).removeHandler(handler)
    assert sys.argv == ["pytest", "-q", "some/test.py"]  # given back
    messages = [str(w.message) for w in recwarn] + records + capsys.readouterr().err.splitlines()
    assert not [m for m in messages if "sys.argv" in m or "💡" in m or "LeafSpec" in m], messages
