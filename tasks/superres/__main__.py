"""``python -m tasks.superres fit|validate -c tasks/superres/configs/<autoencoder|diffusion|features|one_step>.yaml``"""
from common.training.cli import run_cli
from tasks.superres.module import SRDataModule, TaskModule


def main(args=None, run: bool = True):
    return run_cli(TaskModule, SRDataModule, args=args, run=run, prog="python -m tasks.superres",
                   subclass_mode_data=True)


if __name__ == "__main__":
    main()
