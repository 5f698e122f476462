"""`rundb runs` (list, info, delete, restore, purge) and `label`, `tag`, `untag`, `mark`, `comment`."""

import json

import click

from rundb import api

from .completion import complete_run
# The page `runs list` prints is laid out in .fast (the click-free fast path prints it too).
from .fast import (  # noqa: F401 - format_lines, run_line: for export and stop
    COUNT_AT_MOST, DEFAULT_LIMIT, format_lines, numbered_lines as _numbered_lines, print_runs,
    run_line)
from .output import fmt_option
from .options import confirm, filter_options, format_time, pass_home, run_filter, yes_option


class _DefaultList(click.Group):
    """`rundb runs` with no subcommand (or with run specs/options) lists runs."""

    def parse_args(self, ctx, args):
        if not args or args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(name="runs", cls=_DefaultList)
def runs():
    """List runs, or show, delete, restore and purge them."""


@runs.command(name="list")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@click.option("-n", "--limit", type=int, metavar="N", help=f"Show at most N runs (default {DEFAULT_LIMIT}).")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all runs.")
@click.option("-d", "--deleted", is_flag=True, help="List deleted runs (in the trash).")
@click.option("--json", "as_json", is_flag=True, help="Print runs as JSON.")
@fmt_option
@pass_home
def list_runs(home, specs, limit, all_, deleted, as_json, fmt, **kw):
    """List runs, newest first.

    \b
    Examples:
      rundb runs
      rundb runs -o train --completed -F "=lr > 0.01"
    """
    flt = run_filter(kw, deleted=deleted)
    if as_json:
        limit = None if all_ else (limit or DEFAULT_LIMIT)
        found = api.runs(home, specs, flt, limit=limit + 1 if limit else None)
        shown = found[:limit] if limit else found
        click.echo(json.dumps([_run_json(r) for r in shown], indent=2))
        return
    # The one body the fast path (rundb_cli.fast, no click) runs too.
    print_runs(home, specs, flt, limit, all_, fmt, count_at_most=COUNT_AT_MOST)


@runs.command(name="info")
@click.argument("spec", shell_complete=complete_run, required=False)
@filter_options
@click.option("-s", "--all-scalars", is_flag=True, help="Include sys/* scalars.")
@click.option("--files", "with_files", is_flag=True, help="List the run's files too.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_home
def info(home, spec, all_scalars, with_files, as_json, **kw):
    """Show a run's attributes, flags and scalars (default: the newest run)."""
    run, summaries = api.run_info(home, spec, run_filter(kw))
    summaries = [s for s in summaries if all_scalars or not s["tag"].startswith("sys/")]
    files = api.run_files(home, run.id)[1] if with_files else None
    if as_json:
        data = _run_json(run)
        from .output import json_value

        data["scalars"] = {_key(s): [json_value(s["last_val"]), s["last_step"]] for s in summaries}
        if files is not None:
            data["files"] = {f.path: f.size for f in files}
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    from rundb.flagvals import encode_flag_value
    from rundb.text import printable

    for name, value in _info_fields(run):
        click.echo(f"{name}: {printable(value)}")
    click.echo("flags:")
    for name in sorted(run.flags):
        click.echo(f"  {printable(name)}: {printable(encode_flag_value(run.flags[name]))}")
    click.echo("scalars:")
    for s in summaries:
        click.echo(f"  {printable(_key(s))}: {s['last_val']:f} (step {s['last_step']})")
    if files is not None:
        from .files import human_size

        click.echo("files:")
        for f in files:
            click.echo(f"  {printable(f.path)}" + ("" if f.is_dir else f" ({human_size(f.size)})"))


def _key(s):
    from rundb.catalog import scalar_key_name

    return scalar_key_name(s["prefix"], s["tag"])


def _info_fields(run):
    import shlex

    cmd = run.attrs.get("cmd")
    fields = [
        ("id", run.id),
        ("operation", run.op),
        ("status", run.status + (" (process gone)" if run.attrs.get("process_gone") else "")),
        ("started", format_time(run.started)),
        ("stopped", format_time(run.stopped)),
        ("marked", "yes" if run.marked else "no"),
        ("label", run.label),
        ("tags", " ".join(run.tags)),
        ("comment", run.comment),
        ("parent", run.parent or ""),
        ("sourcecode_digest", run.sourcecode_digest or ""),
        ("run_dir", run.dir or ""),
        ("command", shlex.join(cmd) if isinstance(cmd, list) else (cmd or "")),
        ("exit_status", "" if run.exit_status is None else run.exit_status),
        ("pid", run.pid or ""),
        *_provenance_fields(run),
    ]
    if run.status == "pruned" and "pruned_step" in run.attrs:
        # Where its batch's pruner stopped it (and by which rule), right after the status.
        fields[3:3] = [("pruned_step", run.attrs["pruned_step"]),
                       ("pruned_by", run.attrs.get("pruned_by", ""))]
    return fields


from rundb.run import PROVENANCE  # noqa: E402 - what produced a run, as runs info shows it


def _provenance_fields(run):
    import shlex

    fields = [("host", run.host or ""), ("user", run.user or "")]
    for name in PROVENANCE:
        value = run.attrs.get(name)
        if isinstance(value, list):
            value = shlex.join(str(v) for v in value)
        fields.append((name, "" if value is None else value))
    return fields


def _run_json(run):
    from rundb.run import run_json

    return run_json(run)


def _act(home, specs, kw, action, verb, yes, deleted=False, none_means_all=True,
         default=True):
    """Select runs, preview and confirm (``default``: the answer to an empty line),
    then apply ``action`` to their ids."""
    flt = run_filter(kw, deleted=deleted)
    if not specs and not none_means_all:
        raise click.UsageError("specify one or more runs")
    selected = api.runs(home, specs, flt)
    if not selected:
        click.echo("No matching runs", err=True)
        return []
    if not yes:
        click.echo(f"You are about to {verb} the following runs:", err=True)
        for line in format_lines(_numbered_lines(home, selected, flt)):
            click.echo(f"  {line}", err=True)
        if not confirm("Continue?", default=default):
            click.echo("Nothing changed", err=True)
            raise click.exceptions.Exit(1)
    return action(home, [r.id for r in selected])


@runs.command(name="delete")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@yes_option
@click.option("-p", "--permanent", is_flag=True, help="Delete for good (no trash).")
@pass_home
def delete(home, specs, yes, permanent, **kw):
    """Delete runs (to the trash, restorable until purged). No RUN means all matching runs."""
    verb = "permanently delete (this cannot be undone)" if permanent else "delete"
    done = _act(home, specs, kw, api.delete_runs, verb, yes, default=not permanent)
    if permanent and done:
        api.purge_runs(home, [r.id for r in done])
    click.echo(f"Deleted {len(done)} run(s)")


runs.add_command(delete, name="rm")


@runs.command(name="restore")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@yes_option
@pass_home
def restore(home, specs, yes, **kw):
    """Restore deleted runs from the trash."""
    done = _act(home, specs, kw, api.restore_runs, "restore", yes, deleted=True)
    click.echo(f"Restored {len(done)} run(s)")


@runs.command(name="purge")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@yes_option
@pass_home
def purge(home, specs, yes, **kw):
    """Remove deleted runs for good."""
    done = _act(home, specs, kw, api.purge_runs, "permanently remove (this cannot be undone)",
                yes, deleted=True, default=False)
    click.echo(f"Purged {len(done)} run(s)")


@click.command(name="label")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@click.option("-s", "--set", "set_", metavar="VAL", help="Set the label.")
@click.option("-p", "--prepend", metavar="VAL", help="Put VAL in front of the label.")
@click.option("-a", "--append", metavar="VAL", help="Put VAL after the label.")
@click.option("-rm", "--remove", metavar="VAL", help="Remove VAL (whole words) from the label.")
@click.option("-c", "--clear", is_flag=True, help="Clear the label.")
@yes_option
@pass_home
def label(home, specs, set_, prepend, append, remove, clear, yes, **kw):
    """Set, change or clear run labels.

    \b
    Example:
      rundb label 1 --prepend best
    """
    if not any([set_ is not None, prepend, append, remove, clear]):
        raise click.UsageError("specify --set, --prepend, --append, --remove or --clear")
    edit = dict(set=set_, prepend=prepend, append=append, remove=remove, clear=clear)
    done = _act(home, specs, kw, lambda h, ids: api.label_runs(h, ids, **edit), "label", yes)
    click.echo(f"Cleared label for {len(done)} run(s)" if clear else f"Labeled {len(done)} run(s)")


@click.command(name="tag")
@click.argument("tag_")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@yes_option
@pass_home
def tag(home, tag_, specs, yes, **kw):
    """Add tag TAG to runs."""
    done = _act(home, specs, kw, lambda h, ids: api.tag_runs(h, ids, add=[tag_]), "tag", yes)
    click.echo(f"Tagged {len(done)} run(s)")


@click.command(name="untag")
@click.argument("tag_")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@yes_option
@pass_home
def untag(home, tag_, specs, yes, **kw):
    """Remove tag TAG from runs."""
    done = _act(home, specs, kw, lambda h, ids: api.tag_runs(h, ids, remove=[tag_]), "untag", yes)
    click.echo(f"Untagged {len(done)} run(s)")


@click.command(name="mark")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@click.option("-c", "--clear", is_flag=True, help="Clear the mark.")
@yes_option
@pass_home
def mark(home, specs, clear, yes, **kw):
    """Mark runs (or clear their mark with --clear)."""
    done = _act(home, specs, kw, lambda h, ids: api.mark_runs(h, ids, marked=not clear),
                "unmark" if clear else "mark", yes)
    click.echo(f"{'Unmarked' if clear else 'Marked'} {len(done)} run(s)")


@click.command(name="comment")
@click.argument("specs", shell_complete=complete_run, nargs=-1)
@filter_options
@click.option("-m", "--message", metavar="TEXT", help="The comment.")
@click.option("-c", "--clear", is_flag=True, help="Clear the comment.")
@yes_option
@pass_home
def comment(home, specs, message, clear, yes, **kw):
    """Set (-m TEXT) or clear (--clear) the comment of runs."""
    if message is None and not clear:
        raise click.UsageError("specify --message TEXT or --clear")
    text = "" if clear else message
    done = _act(home, specs, kw, lambda h, ids: api.comment_runs(h, ids, text), "comment", yes)
    click.echo(f"Commented {len(done)} run(s)" if text else f"Cleared comment for {len(done)} run(s)")
