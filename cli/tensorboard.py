"""`rundb tensorboard`: a TensorBoard log directory (with HParams) mirroring runs."""

import click

from .completion import complete_run
from .options import filter_options, pass_home, run_filter


@click.command(name="tensorboard")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@click.option("--logdir", metavar="DIR",
              help="Build the log directory in DIR and keep it (default: a temporary directory, "
                   "removed when TensorBoard stops).")
@click.option("--host", metavar="HOST",
              help="Interface TensorBoard listens on (default localhost).")
@click.option("--port", type=int, metavar="N",
              help="TensorBoard's port (default 6006, or the next free one).")
@click.option("--no-server", is_flag=True,
              help="Only build the log directory and print its path (for your own TensorBoard).")
@click.option("--include-batch", is_flag=True, help="Include batch runs.")
@click.option("--refresh-interval", type=float, default=5.0, show_default=True, metavar="SECONDS",
              help="While serving, refresh the log directory this often (0: never).")
@pass_home
def tensorboard(home, specs, logdir, host, port, no_server, include_batch, refresh_interval, **kw):
    """View runs in TensorBoard, with an HParams session per run.

    Builds a log directory with one subdirectory per run (linking the run's event files,
    plus its output scalars and HParams summaries written from the index), then serves
    it with TensorBoard until Ctrl-C. Batch runs are left out unless --include-batch.

    \b
    Examples:
      rundb tensorboard 1:10
      rundb tensorboard -o train --completed --logdir tb --no-server
    """
    import shutil
    import signal

    from rundb.tensorboard import mirror as tb

    flt = run_filter(kw, include_batch=include_batch)
    temporary = logdir is None
    mirror = tb.LogdirMirror(home, logdir or tb.temp_logdir(), specs, flt)
    if no_server:
        result = mirror.sync()
        click.echo(f"Prepared {len(result.runs)} run(s) for TensorBoard", err=True)
        click.echo(mirror.logdir)
        return

    def ready(url):
        click.echo(f"TensorBoard {url} (log directory {mirror.logdir}); press Ctrl-C to stop",
                   err=True)
        click.echo(url)

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # clean up the temporary directory on `kill` too
    try:
        tb.serve(mirror, host=host, port=port, refresh_interval=refresh_interval, ready=ready)
    except KeyboardInterrupt:
        click.echo("", err=True)
    finally:
        if temporary:
            shutil.rmtree(mirror.logdir, ignore_errors=True)
