"""A Keras callback that logs each epoch's metrics as scalars of the current run.

::

    from rundb.keras import RunCallback

    model.fit(x, y, epochs=10, validation_split=0.1, callbacks=[RunCallback()])

Every number in the ``logs`` Keras hands to ``on_epoch_end`` (``loss``, ``accuracy``,
``val_loss``, ``learning_rate`` ...) is logged at step = epoch number, counting from 1 as
Keras prints it (``Epoch 1/10``) and as rundb reads Keras output. Metrics of a
``model.evaluate(..., callbacks=[cb])`` outside ``fit`` are logged as ``test_<name>``.

The callback writes a TF event file in ``<run>/.rundb/``. Under ``rundb run`` (the run
directory comes from ``RUNDB_RUN_DIR``) and inside :func:`rundb.ipy.run`, that directory
is read as the run goes on, so the scalars reach the index live, under the prefix
``.rundb`` (shown bare: ``loss``), and ``rundb index rebuild`` reads them again from the
same file. The file is the only path to the index, so nothing is counted twice.

Keras is never imported here. When Keras is already loaded, the callback is a subclass
of ``keras.callbacks.Callback`` (Keras 3, any backend; ``tf.keras`` when only TensorFlow
is loaded); otherwise it implements the callback interface itself, so a training loop of
one's own may call ``on_epoch_end(epoch, logs)`` too.
"""

import logging
import os
import sys

__all__ = ["RunCallback", "current_run_dir"]

log = logging.getLogger("rundb")


def current_run_dir():
    """The directory of the run this code runs in, or None.

    The run of :func:`rundb.ipy.run` the calling thread is in, else ``$RUNDB_RUN_DIR``
    (set by ``rundb run`` for its process).
    """
    capture = sys.modules.get("rundb.ops.capture")  # no function runs unless it is loaded
    if capture is not None:
        run_dir = capture.active_run_dir()
        if run_dir:
            return run_dir
    return os.environ.get("RUNDB_RUN_DIR") or None


class RunCallback:
    """Log the metrics of each epoch as scalars of the current run.

    :param run_dir: the run to log to (default: :func:`current_run_dir`, looked up when
        training starts)
    :param first_step: the step of the first epoch (``1``: as Keras prints epochs)
    :raises RuntimeError: at the first metrics, when there is no run to log to.
    """

    def __new__(cls, *args, **kwargs):
        if cls is RunCallback:
            cls = _concrete_class()
        return object.__new__(cls)

    def __init__(self, run_dir=None, first_step=1):
        super().__init__()
        self.run_dir = run_dir
        self.first_step = first_step
        self._writer = None
        self._in_fit = False
        self._last_step = None

    # --- the hooks this callback uses ---------------------------------------------------

    def on_train_begin(self, logs=None):
        self._in_fit = True
        self._open()

    def on_epoch_end(self, epoch, logs=None):
        step = int(epoch) + self.first_step
        self._last_step = step
        self.log_metrics(logs, step)

    def on_test_end(self, logs=None):
        # During fit, validation metrics arrive in on_epoch_end as val_*; only a separate
        # evaluate() is logged here.
        if not self._in_fit and logs:
            step = self._last_step if self._last_step is not None else 0
            self.log_metrics({f"test_{k}": v for k, v in logs.items()}, step)

    def on_train_end(self, logs=None):
        self._in_fit = False
        if self._writer is not None:
            self._writer.flush()

    # --- logging --------------------------------------------------------------------------

    def log_metrics(self, logs, step):
        """Log every numeric value of ``logs`` (a dict) at ``step``; flush the file."""
        if not logs:
            return
        writer = self._open()
        for name, value in logs.items():
            number = _number(value)
            if number is not None:
                writer.add_scalar(str(name), number, step)
        writer.flush()
        capture = sys.modules.get("rundb.ops.capture")
        if capture is not None:  # a function trial its batch pruned stops here
            capture.check_pruned()

    def close(self):
        """Close the event file (training may go on: a new file is opened then)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _open(self):
        if self._writer is None:
            from ..home import meta_dir
            from ..tfevents import ScalarEventWriter

            run_dir = self.run_dir or current_run_dir()
            if not run_dir:
                raise RuntimeError(
                    "RunCallback is not in a run: train inside 'rundb run' or "
                    "rundb.ipy.run(), or pass RunCallback(run_dir=...)")
            self.run_dir = run_dir
            _warn_if_keras_output_parsed(run_dir)
            self._writer = ScalarEventWriter(meta_dir(run_dir))
        return self._writer

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class _CallbackInterface:
    """The rest of the Keras callback interface, for use without Keras (or with a
    Keras whose ``Callback`` class is not loaded): every hook does nothing."""

    _supports_tf_logs = False

    def __init__(self):
        self.model = None
        self.params = {}
        self.validation_data = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def _implements_train_batch_hooks(self):
        return False

    def _implements_test_batch_hooks(self):
        return False

    def _implements_predict_batch_hooks(self):
        return False

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


_classes = {}


def _keras_callback_base():
    """``Callback`` of the Keras already loaded in this process, or None."""
    keras = sys.modules.get("keras")
    callbacks = getattr(keras, "callbacks", None) if keras is not None else None
    if callbacks is None and "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        callbacks = getattr(getattr(tf, "keras", None), "callbacks", None)
    return getattr(callbacks, "Callback", None)


def _concrete_class():
    base = _keras_callback_base() or _CallbackInterface
    cls = _classes.get(base)
    if cls is None:
        # Named like the class users know, so isinstance and repr read as expected.
        cls = _classes[base] = type("RunCallback", (RunCallback, base),
                                    {"__module__": __name__, "__doc__": RunCallback.__doc__})
    return cls


def _number(value):
    """``value`` as a float, or None when it is not a single number (a string, a
    tensor with several values ...)."""
    if isinstance(value, (str, bytes)):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    # Framework tensors and 0-d arrays: ask for a Python value.
    for method in ("item", "numpy"):
        fn = getattr(value, method, None)
        if fn is not None:
            try:
                return float(fn())
            except (TypeError, ValueError):
                return None
    return None


_warned = set()


def _warn_if_keras_output_parsed(run_dir):
    # A script that uses Keras gets the Keras output patterns under `rundb run`: its
    # progress lines (`- loss: 0.3`) would log the same metrics again.
    if run_dir in _warned:
        return
    _warned.add(run_dir)
    try:
        from ..outputscalars import KERAS_PATTERNS
        from ..run import read_meta

        patterns = read_meta(run_dir).output_scalars or []
    except Exception:  # noqa: BLE001 - a warning is not worth failing training for
        return
    if any(p in patterns for p in KERAS_PATTERNS):
        log.warning(
            "this run also parses Keras progress output for scalars: use verbose=0 in "
            "fit() or 'output-scalars: no' in rundb.yml, or metrics are logged twice")
