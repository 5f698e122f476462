"""`rundb view`: a small web view over the index."""

import click

from .options import pass_home


@click.command(name="view")
@click.option("--host", default="127.0.0.1", show_default=True, metavar="HOST",
              help="Interface to listen on. Anything but a loopback address lets other "
                   "hosts read every run (with a warning).")
@click.option("--port", type=int, default=0, show_default=True, metavar="N",
              help="Port to listen on (0: any free port).")
@click.option("--browser/--no-browser", default=False,
              help="Open the view in a web browser (default: only print its URL).")
@pass_home
def view(home, host, port, browser):
    """Serve a web page over the index: a sortable runs table with filters and
    column choice, overlaid curves of the selected runs, a sweep's parallel coordinates
    and scatter, and a page per run, live while runs run; the read-only JSON API behind
    them (docs/web.md). Runs until Ctrl-C.

    \b
    Example:
      rundb view --port 8765
    """
    from rundb.web.view import LOOPBACK_NAMES, make_server, server_url

    if host not in LOOPBACK_NAMES:
        click.echo(f"rundb: warning: listening on {host}: any host that can reach it can read "
                   "every run, flag and output in this home (no authentication)", err=True)
    try:
        server = make_server(home, host, port)
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    url = server_url(server)
    click.echo(f"rundb view of {home.path} at {url}; press Ctrl-C to stop", err=True)
    click.echo(url)
    if browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("", err=True)
    finally:
        server.server_close()
