"""`rundb run`."""

import shlex
import sys

import click

from rundb import api

from .options import confirm, pass_home


class _RunCommand(click.Command):
    """Remembers whether ``--`` was given: what follows it is a command to run."""

    def parse_args(self, ctx, args):
        ctx.meta["rundb.exec"] = "--" in args
        return super().parse_args(ctx, args)


@click.command(name="run", cls=_RunCommand,
               context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("args", nargs=-1)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("-l", "--label", metavar="TEMPLATE", help="Run label (may use ${flag}, ${default_label}).")
@click.option("-t", "--tag", "tags", multiple=True, metavar="TAG", help="Tag the run (repeatable).")
@click.option("--force-flags", is_flag=True, help="Accept flags the operation does not define.")
@click.option("--print-cmd", is_flag=True, help="Print the command that would run, then exit.")
@click.option("--help-op", is_flag=True, help="Show the operation's flags, then exit.")
@click.option("--test-output-scalars", metavar="FILE", help="Show how output lines in FILE ('-' for stdin) parse as scalars.")
@click.option("--random-seed", type=int, metavar="N", help="Random seed recorded with the run.")
@click.option("-q", "--quiet", is_flag=True, help="Do not echo the run's output.")
@click.pass_context
@pass_home
def run(home, ctx, args, yes, label, tags, force_flags, print_cmd, help_op,
        test_output_scalars, random_seed, quiet):
    """Run a script or an operation as a tracked run.

    ARGS is a Python script or an operation from rundb.yml followed by NAME=VALUE flag
    assignments; or, after `--`, any command line.

    \b
    Examples:
      rundb run train.py lr=0.01 epochs=5 -y
      rundb run train            # operation 'train' in rundb.yml
      rundb run -- ./train.sh --fast
    """
    spec, assigns, exec_argv = _split(ctx, args)
    plan = api.plan_run(spec, exec_argv=exec_argv)
    if help_op:
        click.echo(_op_help(plan))
        return
    if test_output_scalars:
        _test_output_scalars(plan, test_output_scalars)
        return
    flags = api.resolve_flags(plan, assigns, force=force_flags)
    if print_cmd:
        from rundb.ops.plan import command

        click.echo(shlex.join(command(plan, flags)))
        return
    if not yes and not _confirm(plan, flags):
        raise SystemExit(1)
    finished = api.run(home, plan, flags, label=label, tags=tags, echo=not quiet,
                       random_seed=random_seed)
    if finished.status != "completed":
        detail = {"terminated": "was terminated", "error": "exited with an error"}
        click.echo(f"rundb: run {finished.short_id} {detail.get(finished.status, finished.status)}"
                   f" (exit status {finished.exit_status})", err=True)
        raise SystemExit(1)


def _split(ctx, args):
    if ctx.meta.get("rundb.exec"):
        if not args:
            raise click.UsageError("missing command after '--'", ctx)
        return None, [], list(args)
    if not args:
        return None, [], None
    if "=" in args[0]:
        return None, list(args), None
    return args[0], list(args[1:]), None


def _confirm(plan, flags):
    from rundb.ops.flagvals import encode_flag_value

    lines = [f"You are about to run {plan.name}"]
    for name in sorted(flags):
        lines.append(f"  {name}: {encode_flag_value(flags[name])}")
    click.echo("\n".join(lines), err=True)
    return confirm("Continue?")


def _op_help(plan):
    from rundb.ops.flagvals import encode_flag_value

    lines = [f"Usage: rundb run [OPTIONS] {plan.name} [FLAG]...", ""]
    if plan.opdef.description:
        lines += [plan.opdef.description, ""]
    if not plan.flag_defs:
        lines.append("This operation has no flags.")
        return "\n".join(lines)
    lines.append("Flags:")
    width = max(len(n) for n in plan.flag_defs)
    for name in sorted(plan.flag_defs):
        fd = plan.flag_defs[name]
        desc = fd.description or ""
        default = f"(default is {encode_flag_value(fd.default)})"
        lines.append(f"  {name.ljust(width)}  {desc} {default}".rstrip())
        if fd.choices:
            lines.append(f"  {' ' * width}  Choices: {', '.join(encode_flag_value(c) for c in fd.choices)}")
    return "\n".join(lines)


def _test_output_scalars(plan, path):
    from rundb.ops.operation import output_scalars_for
    from rundb.ops.outputscalars import OutputScalarParser, test_output_scalars

    config = output_scalars_for(plan)
    parser = OutputScalarParser.from_config(config if config is not None else [])
    if path == "-":
        text = sys.stdin.read()
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    click.echo(test_output_scalars(text.splitlines(), parser), nl=False)
