"""``python -m tasks.linkpred fit|validate -c tasks/linkpred/configs/gcn.yaml``"""
from common.training.cli import run_cli
from tasks.linkpred.module import LinkPredDataModule, LinkPredModule


def main(args=None, run: bool = True):
    return run_cli(LinkPredModule, LinkPredDataModule, args=args, run=run, prog="python -m tasks.linkpred",
                   links=[("data.in_dim", "model.init_args.in_dim")])


if __name__ == "__main__":
    main()
