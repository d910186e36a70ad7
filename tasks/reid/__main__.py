"""``python -m tasks.reid fit|validate -c tasks/reid/configs/<teacher|student>.yaml``"""
from common.training.cli import run_cli
from common.training.module import TaskModule
from tasks.reid.module import ReIDDataModule

CLASSES = (TaskModule, ReIDDataModule)


def main(args=None, run: bool = True):
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    return run_cli(TaskModule, ReIDDataModule, args=args, run=run, prog="python -m tasks.reid",
                   links=[("data.num_classes", "model.init_args.num_classes")], exit_on_error=run)


if __name__ == "__main__":
    main()
