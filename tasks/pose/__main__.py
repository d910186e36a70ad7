"""``python -m tasks.pose fit|validate -c tasks/pose/configs/litepose.yaml``;
``python -m tasks.pose predict --model M --images DIR --out DIR`` (:mod:`tasks.pose.predict`)."""
import sys

from common.training.cli import run_cli
from tasks.pose.module import PoseDataModule, PoseModule

CLASSES = (PoseModule, PoseDataModule)


def main(args=None, run: bool = True):
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["predict"]:  # a folder of images in, people on disk out (not Lightning's predict)
        from tasks.pose.predict import main as predict

        return predict(argv[1:])
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    # the joints come from the data: the model's num_joints is not an option (a config setting it is refused)
    return run_cli(PoseModule, PoseDataModule, args=args, run=run, prog="python -m tasks.pose",
                   links=[("data.num_joints", "model.init_args.num_joints")], exit_on_error=run)


if __name__ == "__main__":
    main()
