"""Link prediction through the common recipe: a 1-layer GCN or SAGE encoder (torch_geometric) over the
training graph + an MLP predictor on h_u ⊙ h_v, trained with BCE on training edges against as many sampled
negatives (torch_geometric's ``negative_sampling``). Every step encodes the whole training graph; its loss takes
all training edges or, with the data's ``edge_batch_size``, a random batch of them (the authors' loop: full-graph
encoder, edge batches for the loss).

The encoder's input is either the node features or, with ``embedding_dim > 0``, a learnable embedding per
node (``torch.nn.Embedding(num_nodes, embedding_dim)``) that *replaces* the features — what the TC authors'
code (yuwvandy/Topo_LP_GNN, ``TC-expr-small/main.py``) does on featureless graphs: the embedding's weight is
the encoder's ``x`` and is trained with the rest, at the encoder's learning rate.

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
    """``layers`` GCN or SAGE convolutions (torch_geometric). ``sage_normalize``: L2-normalise each SAGE layer's
    output (``SAGEConv(normalize=True)``; the TC authors' ``--sage_norm``, on for their featureless graphs)."""

    def __init__(self, kind: str, in_dim: int, hidden: int, layers: int = 1, dropout: float = 0.0,
                 sage_normalize: bool = False):
        super().__init__()
        from torch_geometric.nn import GCNConv, SAGEConv

        if kind not in ENCODERS:
            raise ValueError(f"unknown encoder {kind!r}; expected one of {ENCODERS}")
        if sage_normalize and kind != "sage":
            raise ValueError(f"sage_normalize applies to the SAGE encoder only, not {kind!r}")
        self.kind = kind
        dims = [in_dim] + [hidden] * layers
        self.convs = nn.ModuleList(GCNConv(a, b, cached=False) if kind == "gcn" else
                                   SAGEConv(a, b, normalize=sage_normalize)
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
    """Encoder + predictor, and the learnable node embedding that replaces the node features when there is one."""

    def __init__(self, encoder: Encoder, predictor: Predictor, embedding: nn.Embedding | None = None):
        super().__init__()
        self.encoder, self.predictor = encoder, predictor
        self.embedding = embedding

    def node_input(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's input: the learnable embedding's weight, or the node features ``x``."""
        if self.embedding is None:
            return x
        if self.embedding.num_embeddings != x.shape[0]:
            raise ValueError(f"the learnable node embedding has {self.embedding.num_embeddings} rows but the graph has "
                             f"{x.shape[0]} nodes: the model was built for another graph")
        return self.embedding.weight

    def encode(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None):
        return self.encoder(self.node_input(x), edge_index, edge_weight)


def build_net(encoder: str, in_dim: int, hidden: int, layers: int, predictor_layers: int, dropout: float,
              embedding_dim: int = 0, num_nodes: int = 0, sage_normalize: bool = False) -> LinkPredNet:
    """The network of these architecture values (the module's constructor and the model-file loader share it)."""
    if embedding_dim < 0:
        raise ValueError(f"embedding_dim must be >= 0 (0 = use the node features), got {embedding_dim}")
    embedding = None
    if embedding_dim > 0:
        if num_nodes < 1:
            raise ValueError(f"a learnable node embedding (embedding_dim={embedding_dim}) needs num_nodes >= 1, got "
                             f"{num_nodes}: link it from the data (data.num_nodes → model.init_args.num_nodes)")
        embedding = nn.Embedding(num_nodes, embedding_dim)  # N(0, 1) init, as torch (and the authors) leave it
    enc_in = embedding_dim if embedding is not None else in_dim
    return LinkPredNet(Encoder(encoder, enc_in, hidden, layers, dropout, sage_normalize),
                       Predictor(hidden, predictor_layers), embedding)


def concentration_weights(edge_index: torch.Tensor, num_nodes: int, gamma: float) -> torch.Tensor:
    """1 + γ · |N(u) ∩ N(i)| / |N(u)| for each directed training edge u → i (from training edges only)."""
    from tasks.linkpred.tc import _row_dot, adjacency

    e = edge_index.t().numpy()
    a = adjacency(e, num_nodes)
    common = _row_dot(a, a, e[:, 0], e[:, 1])  # |N(u) ∩ N(i)|
    deg = np.asarray(a.sum(1)).ravel()[e[:, 0]]
    return torch.from_numpy(1.0 + gamma * common / np.maximum(deg, 1)).float()


class _Repeat(torch.utils.data.Dataset):
    """The full-graph batch ``n`` times (one epoch = ``n`` optimizer steps). With ``edge_batch_size``, each
    step's positives are that many training edges drawn without replacement (torch's global generator, so a
    seeded and resumed run draws the same ones); the encoder still runs on the whole training graph, as in the
    TC authors' training loop (full-graph encoder, a batch of edges for the loss)."""

    def __init__(self, batch: dict, n: int, edge_batch_size: int | None = None):
        self.batch, self.n, self.edge_batch_size = batch, n, edge_batch_size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        pos = self.batch["pos"]
        if not self.edge_batch_size or self.edge_batch_size >= pos.shape[1]:
            return self.batch
        pick = torch.randperm(pos.shape[1])[:self.edge_batch_size]
        return {**self.batch, "pos": pos[:, pick]}


class LinkPredDataModule(L.LightningDataModule):
    """The prepared graph (``data/linkpred/prepare/graph.npz``) as one full-graph batch per step.

    Args:
        graph: path of the prepared graph.
        split: ``random`` or ``time``.
        reweight_gamma: > 0 turns on TC-guided re-weighting of training edges (γ).
        steps_per_epoch: optimizer steps per epoch (each encodes the whole training graph).
        edge_batch_size: training edges (and as many sampled negatives) in each step's loss, drawn at random;
            null = all of them every step.
    """

    def __init__(self, graph: str = "data/linkpred/prepare/graph.npz", split: str = "random",
                 reweight_gamma: float = 0.0, steps_per_epoch: int = 10, edge_batch_size: int | None = None):
        super().__init__()
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        if edge_batch_size is not None and edge_batch_size < 1:
            raise ValueError(f"edge_batch_size must be >= 1 or null (all training edges), got {edge_batch_size}")
        self.graph_path, self.split = graph, split
        self.reweight_gamma, self.steps_per_epoch = reweight_gamma, steps_per_epoch
        self.edge_batch_size = edge_batch_size
        self.batch: dict | None = None

    @property
    def in_dim(self) -> int:
        self.setup()
        return int(self.batch["x"].shape[1])

    @property
    def num_nodes(self) -> int:
        self.setup()
        return int(self.batch["num_nodes"])

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

    def _loader(self, repeats: int, edge_batch_size: int | None = None):
        from torch.utils.data import DataLoader

        return DataLoader(_Repeat(self.batch, repeats, edge_batch_size), batch_size=None, collate_fn=lambda b: b)

    def train_dataloader(self):
        return self._loader(self.steps_per_epoch, self.edge_batch_size)

    def val_dataloader(self):
        return self._loader(1)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


class LinkPredModule(TaskModule):
    """GCN/SAGE + MLP link predictor (the TC paper's setup: 1 layer, hidden 256, lr 1e-3).

    Args:
        encoder: ``gcn`` or ``sage``.
        in_dim: node feature size (filled from the data by the CLI runner); unused with an embedding.
        hidden: hidden size.
        layers: encoder layers.
        predictor_layers: MLP predictor layers.
        dropout: dropout between encoder layers.
        eval_k: K of the validation Hits@K (logged as ``val/hits@<K>`` and, for the checkpoint monitor, ``val/hits``).
        embedding_dim: > 0: a learnable embedding of this size per node replaces the node features as the
            encoder's input (the TC authors' setup for featureless graphs); 0: the node features.
        num_nodes: nodes of the graph (filled from the data by the CLI runner); needed with an embedding.
        sage_normalize: L2-normalise the SAGE encoder's output (the authors' ``--sage_norm``); SAGE only.
        recipe: arguments of :class:`common.training.module.TaskModule` (optimizer, …).
    """

    def __init__(self, encoder: str = "gcn", in_dim: int = 32, hidden: int = 256, layers: int = 1,
                 predictor_layers: int = 2, dropout: float = 0.0, eval_k: int = 50, embedding_dim: int = 0,
                 num_nodes: int = 0, sage_normalize: bool = False, **recipe: Any):
        super().__init__(**recipe)
        self.save_hyperparameters(ignore=["optimizer"])
        self.model = build_net(encoder, in_dim, hidden, layers, predictor_layers, dropout, embedding_dim, num_nodes,
                               sage_normalize)
        self.eval_k = eval_k

    def embed(self, batch: dict) -> torch.Tensor:
        return self.model.encode(batch["x"], batch["edge_index"], batch.get("edge_weight"))

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
        if f"hits@{self.eval_k}" in m:  # one name for every profile's K: what the best-checkpoint monitor reads
            self.log("val/hits", m[f"hits@{self.eval_k}"], batch_size=1)


# ----------------------------------------------------------------------------- model files
FORMAT = "edgerepro.linkpred.v2"  # v2: + embedding_dim, num_nodes (learnable node embedding), sage_normalize
# the network's constructor arguments a model file records, with their types: the loader rebuilds from these
# plain values only (the encoder kind from ENCODERS), never from a class path stored in the file
ARCH = {"encoder": str, "in_dim": int, "hidden": int, "layers": int, "predictor_layers": int, "dropout": float,
        "embedding_dim": int, "num_nodes": int, "sage_normalize": bool}


def save_model(path, module: LinkPredModule, **meta: Any):
    """``module``'s network as an ``edgerepro.linkpred.v2`` file: its architecture (from the trained module's
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
          and all(isinstance(arch[k], t) and (t is bool or not isinstance(arch[k], bool))
                  for k, t in ARCH.items() if k != "encoder"))
    if not ok:
        raise ModelFileError(f"{path}: not a known link-prediction network: {arch!r} (expected {sorted(ARCH)} with "
                             f"encoder in {ENCODERS} and plain numbers)")
    try:
        net = build_net(**arch)
    except ValueError as e:
        raise ModelFileError(f"{path}: not a known link-prediction network: {e}") from None
    net.load_state_dict(ck["state_dict"])
    return net.eval(), ck
