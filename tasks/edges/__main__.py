"""``python -m tasks.edges fit|validate -c tasks/edges/configs/<autoencoder|diffusion|rcf>.yaml``"""
from common.training.cli import run_cli
from tasks.edges.module import EdgeDataModule, TaskModule


def main(args=None, run: bool = True):
    return run_cli(TaskModule, EdgeDataModule, args=args, run=run, prog="python -m tasks.edges")


if __name__ == "__main__":
    main()
