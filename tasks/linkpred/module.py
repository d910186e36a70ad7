"""Link prediction through the common recipe: a 1-layer GCN or SAGE encoder (torch_geometric) over the
training graph + an MLP predictor on h_u ⊙ h_v, trained with BCE on training edges against sampled
negatives (torch_geometric's ``negative_sampling``), full-batch: one "batch" is the whole graph.

Optional TC-guided re-weighting of *training* edges (the TC paper's idea; its public code uses
validation edges for it, which leaks evaluation data): the message from u to i gets weight
1 + γ · |N(u) ∩ N(i)| / |N(u)| — how much of u's neighbourhood is also i's, i.e. how concentrated the
edge is.
"""
from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from common.training.module import TaskModule

ENCODERS = ("gcn", "sage")


class Encoder(nn.Module):
    def __init__(self, kind: str, in_dim: int, hidden: int, layers: int = 1, dropout: float = 0.0):
        super().__init__()
        from torch_geometric.nn import GCNConv, SAGEConv

        if kind not in ENCODERS:
            raise ValueError(f"unknown encoder {kind!r}; expected one of {ENCODERS}")
        self.kind = kind
        dims = [in_dim] + [hidden] * layers
        self.convs = nn.ModuleList(GCNConv(a, b, cached=False) if kind == "gcn" else SAGEConv(a, b)
                                   for a, b in zip(dims[:-1], dims[1:]))
        self.dropout = dropout

    def forward(self, x, edge_index, edge_weight=None):
        for i, conv in enumerate(self.convs):
            if self.kind == "gcn":
                x = conv(x, edge_index, edge_weight)
            else:  # SAGEConv's mean aggregation takes no edge weights: re-weighting applies to GCN only
                x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = torch.relu(x)
                x = nn.functional.dropout(x, self.dropout, self.training)
        return x


class Predictor(nn.Module):
    def __init__(self, hidden: int, layers: int = 2):
        super().__init__()
        mods = []
        for _ in range(layers - 1):
            mods += [nn.Linear(hidden, hidden), nn.ReLU()]
        mods.append(nn.Linear(hidden, 1))
        self.mlp = nn.Sequential(*mods)

    def forward(self, hu, hv):
        return self.mlp(hu * hv).squeeze(-1)

    def score_all(self, hq: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Scores (B, n) of every query in ``hq`` (B, d) against every node in ``h`` (n, d) — the same
        numbers as ``forward`` on all pairs, but the first layer W(h_q ⊙ h_v) = (W·diag(h_q)) h_v is a
        batched matrix product instead of B·n element-wise products fed to a Linear (memory-bound)."""
        first, rest = self.mlp[0], self.mlp[1:]
        z = torch.matmul(hq[:, None, :] * first.weight[None], h.t())  # (B, out, n)
        z = z.transpose(1, 2) + first.bias  # (B, n, out)
        return rest(z).squeeze(-1)


class LinkPredNet(nn.Module):
    def __init__(self, encoder: Encoder, predictor: Predictor):
        super().__init__()
        self.encoder, self.predictor = encoder, predictor


def concentration_weights(edge_index: torch.Tensor, num_nodes: int, gamma: float) -> torch.Tensor:
    """1 + γ · |N(u) ∩ N(i)| / |N(u)| for each directed training edge u → i (from training edges only)."""
    from tasks.linkpred.tc import _row_dot, adjacency

    e = edge_index.t().numpy()
    a = adjacency(e, num_nodes)
    common = _row_dot(a, a, e[:, 0], e[:, 1])  # |N(u) ∩ N(i)|
    deg = np.asarray(a.sum(1)).ravel()[e[:, 0]]
    return torch.from_numpy(1.0 + gamma * common / np.maximum(deg, 1)).float()


class _Repeat(torch.utils.data.Dataset):
    """The same full-graph batch ``n`` times (one epoch = ``n`` optimizer steps on the whole graph)."""

    def __init__(self, batch: dict, n: int):
        self.batch, self.n = batch, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return self.batch


class LinkPredDataModule(L.LightningDataModule):
    """The prepared graph (``data/linkpred/prepare/graph.npz``) as one full-graph batch per step.

    Args:
        graph: path of the prepared graph.
        split: ``random`` or ``time``.
        reweight_gamma: > 0 turns on TC-guided re-weighting of training edges (γ).
        steps_per_epoch: optimizer steps per epoch (each sees the whole graph).
    """

    def __init__(self, graph: str = "data/linkpred/prepare/graph.npz", split: str = "random",
                 reweight_gamma: float = 0.0, steps_per_epoch: int = 10):
        super().__init__()
        self.graph_path, self.split = graph, split
        self.reweight_gamma, self.steps_per_epoch = reweight_gamma, steps_per_epoch
        self.batch: dict | None = None

    @property
    def in_dim(self) -> int:
        self.setup()
        return int(self.batch["x"].shape[1])

    def setup(self, stage: str | None = None) -> None:
        if self.batch is not None:
            return
        from tasks.linkpred.data import available_splits, load_graph, split_edges_of

        g = load_graph(self.graph_path)
        if self.split not in available_splits(g):
            raise ValueError(f"{self.graph_path}: split {self.split!r} not available (has {available_splits(g)})")
        tr = torch.from_numpy(split_edges_of(g, self.split, "train"))
        ei = torch.cat([tr.t(), tr.t().flip(0)], dim=1)
        n = g["num_nodes"]
        b = {"x": torch.from_numpy(g["x"]).float(), "edge_index": ei, "num_nodes": n,
             "pos": tr.t(), "val": torch.from_numpy(split_edges_of(g, self.split, "val")).t(),
             "neg_val": torch.from_numpy(g[f"{self.split}_neg_val"]).t()}
        b["edge_weight"] = concentration_weights(ei, n, self.reweight_gamma) if self.reweight_gamma > 0 else None
        self.batch = b

    def _loader(self, repeats: int):
        from torch.utils.data import DataLoader

        return DataLoader(_Repeat(self.batch, repeats), batch_size=None, collate_fn=lambda b: b)

    def train_dataloader(self):
        return self._loader(self.steps_per_epoch)

    def val_dataloader(self):
        return self._loader(1)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


class LinkPredModule(TaskModule):
    """GCN/SAGE + MLP link predictor (the TC paper's setup: 1 layer, hidden 256, lr 1e-3).

    Args:
        encoder: ``gcn`` or ``sage``.
        in_dim: node feature size (filled from the data by the CLI runner when left at 0).
        hidden: hidden size.
        layers: encoder layers.
        predictor_layers: MLP predictor layers.
        dropout: dropout between encoder layers.
        eval_k: K of the validation Hits@K.
        recipe: arguments of :class:`common.training.module.TaskModule` (optimizer, …).
    """

    def __init__(self, encoder: str = "gcn", in_dim: int = 32, hidden: int = 256, layers: int = 1,
                 predictor_layers: int = 2, dropout: float = 0.0, eval_k: int = 50, **recipe: Any):
        super().__init__(**recipe)
        self.save_hyperparameters(ignore=["optimizer"])
        self.model = LinkPredNet(Encoder(encoder, in_dim, hidden, layers, dropout), Predictor(hidden, predictor_layers))
        self.eval_k = eval_k

    def embed(self, batch: dict) -> torch.Tensor:
        return self.model.encoder(batch["x"], batch["edge_index"], batch.get("edge_weight"))

    def batch_size_of(self, batch: dict) -> int:
        return 1  # one batch = the whole graph; the BCE is already a mean over its edges

    def task_loss(self, batch: dict):
        from torch_geometric.utils import negative_sampling

        h = self.embed(batch)
        pos = batch["pos"]
        neg = negative_sampling(batch["edge_index"], num_nodes=batch["num_nodes"], num_neg_samples=pos.shape[1])
        lp = self.model.predictor(h[pos[0]], h[pos[1]])
        ln = self.model.predictor(h[neg[0]], h[neg[1]])
        loss = nn.functional.binary_cross_entropy_with_logits(torch.cat([lp, ln]),
                                                             torch.cat([torch.ones_like(lp), torch.zeros_like(ln)]))
        return loss, {"bce": loss.detach()}

    def score_pairs(self, batch: dict, pairs: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embed(batch) if h is None else h
        return torch.sigmoid(self.model.predictor(h[pairs[0]], h[pairs[1]]))

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        from tasks.linkpred.metrics import overall_metrics

        h = self.embed(batch)
        m = overall_metrics(self.score_pairs(batch, batch["val"], h), self.score_pairs(batch, batch["neg_val"], h),
                            ks=(self.eval_k,))
        for k, v in m.items():
            self.log(f"val/{k}", v, prog_bar=k.startswith("hits"), batch_size=1)


# ----------------------------------------------------------------------------- model files
FORMAT = "edgerepro.linkpred.v1"
# the network's constructor arguments a model file records, with their types: the loader rebuilds from these
# plain values only (the encoder kind from ENCODERS), never from a class path stored in the file
ARCH = {"encoder": str, "in_dim": int, "hidden": int, "layers": int, "predictor_layers": int, "dropout": float}


def save_model(path, module: LinkPredModule, **meta: Any):
    """``module``'s network as an ``edgerepro.linkpred.v1`` file: its architecture (from the trained module's
    hyperparameters), its state dict and ``meta`` (plain values, e.g. the run, split and re-weighting)."""
    from common.modelfile import save_model_file

    arch = {k: t(module.hparams[k]) for k, t in ARCH.items()}
    return save_model_file(path, FORMAT, "linkpred", arch=arch, state_dict=module.model.state_dict(), meta=meta)


def load_model(path) -> tuple[LinkPredNet, dict]:
    """The network of a model file written by :func:`save_model` (eval mode) and the file's payload."""
    from common.modelfile import ModelFileError, load_model_file

    ck = load_model_file(path, FORMAT, "linkpred")
    arch = ck.get("arch")
    ok = (isinstance(arch, dict) and set(arch) == set(ARCH) and arch["encoder"] in ENCODERS
          and all(isinstance(arch[k], t) and not isinstance(arch[k], bool) for k, t in ARCH.items() if k != "encoder"))
    if not ok:
        raise ModelFileError(f"{path}: not a known link-prediction network: {arch!r} (expected {sorted(ARCH)} with "
                             f"encoder in {ENCODERS} and plain numbers)")
    net = LinkPredNet(Encoder(arch["encoder"], arch["in_dim"], arch["hidden"], arch["layers"], arch["dropout"]),
                      Predictor(arch["hidden"], arch["predictor_layers"]))
    net.load_state_dict(ck["state_dict"])
    return net.eval(), ck
