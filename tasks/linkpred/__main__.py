"""``python -m tasks.linkpred fit|validate -c tasks/linkpred/configs/gcn.yaml``"""
from common.training.cli import run_cli
from tasks.linkpred.module import LinkPredDataModule, LinkPredModule

CLASSES = (LinkPredModule, LinkPredDataModule)


def main(args=None, run: bool = True):
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    return run_cli(LinkPredModule, LinkPredDataModule, args=args, run=run, prog="python -m tasks.linkpred",
                   links=[("data.in_dim", "model.init_args.in_dim"), ("data.num_nodes", "model.init_args.num_nodes")], exit_on_error=run)


if __name__ == "__main__":
    main()
