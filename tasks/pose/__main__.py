"""``python -m tasks.pose fit|validate -c tasks/pose/configs/litepose.yaml``"""
from common.training.cli import run_cli
from tasks.pose.module import PoseDataModule, PoseModule

CLASSES = (PoseModule, PoseDataModule)


def main(args=None, run: bool = True):
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    return run_cli(PoseModule, PoseDataModule, args=args, run=run, prog="python -m tasks.pose", exit_on_error=run)


if __name__ == "__main__":
    main()
