"""The TensorBoard log-dir mirror (``rundb tensorboard``): an application over :mod:`rundb.api`."""
