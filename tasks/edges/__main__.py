"""``python -m tasks.edges fit|validate -c tasks/edges/configs/<autoencoder|diffusion|rcf>.yaml``"""
from common.training.cli import run_cli
from tasks.edges.module import EdgeDataModule, TaskModule

CLASSES = (TaskModule, EdgeDataModule)


def main(args=None, run: bool = True):
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    return run_cli(TaskModule, EdgeDataModule, args=args, run=run, prog="python -m tasks.edges", exit_on_error=run)


if __name__ == "__main__":
    main()
