"""``python -m tasks.superres fit|validate -c tasks/superres/configs/<autoencoder|diffusion|features|one_step>.yaml``
(the KD baseline: ``-c tasks/superres/configs/one_step.yaml -c tasks/superres/configs/one_step_kd.yaml``);
``python -m tasks.superres predict --model M --images DIR --out DIR`` (:mod:`tasks.superres.predict`)."""
import sys

from common.training.cli import run_cli
from tasks.superres.module import SRDataModule, TaskModule

CLASSES = (TaskModule, SRDataModule)


def main(args=None, run: bool = True):
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["predict"]:  # a folder of images in, super-resolved images on disk out (not Lightning's predict)
        from tasks.superres.predict import main as predict

        return predict(argv[1:])
    # built by a pipeline stage (run=False): a bad option raises, so the stage can name its params.yaml line
    return run_cli(TaskModule, SRDataModule, args=args, run=run, prog="python -m tasks.superres",
                   subclass_mode_data=True, exit_on_error=run)


if __name__ == "__main__":
    main()
