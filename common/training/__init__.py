"""Training: the Lightning base module every task subclasses, callbacks, and the LightningCLI runner."""
