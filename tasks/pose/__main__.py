"""``python -m tasks.pose fit|validate -c tasks/pose/configs/litepose.yaml``"""
from common.training.cli import run_cli
from tasks.pose.module import PoseDataModule, PoseModule


def main(args=None, run: bool = True):
    return run_cli(PoseModule, PoseDataModule, args=args, run=run, prog="python -m tasks.pose")


if __name__ == "__main__":
    main()
