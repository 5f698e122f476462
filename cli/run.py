"""`rundb run`."""

import shlex
import sys

import click

from rundb import api

from .completion import complete_run_args
from .options import confirm, pass_home, yes_option
from .output import table_text, terminal_width


class _RunCommand(click.Command):
    """Remembers whether ``--`` was given: what follows it is a command to run."""

    def parse_args(self, ctx, args):
        ctx.meta["rundb.exec"] = "--" in args
        return super().parse_args(ctx, args)


@click.command(name="run", cls=_RunCommand,
               context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("args", nargs=-1, shell_complete=complete_run_args)
@yes_option
@click.option("-l", "--label", metavar="TEMPLATE", help="Run label (may use ${flag}, ${default_label}).")
@click.option("-t", "--tag", "tags", multiple=True, metavar="TAG", help="Tag the run (repeatable).")
@click.option("--force-flags", is_flag=True, help="Accept flags the operation does not define.")
@click.option("--print-cmd", is_flag=True, help="Print the command that would run, then exit.")
@click.option("--help-op", is_flag=True, help="Show the operation's flags, then exit.")
@click.option("--test-output-scalars", metavar="FILE", help="Show how output lines in FILE ('-' for stdin) parse as scalars.")
@click.option("--random-seed", type=int, metavar="N", help="Random seed recorded with the run.")
@click.option("-q", "--quiet", is_flag=True, help="Do not echo the run's output.")
@click.option("--no-sys-metrics", is_flag=True,
              help="Do not sample CPU, memory and GPU use into sys/* scalars.")
@click.option("-o", "--optimizer", metavar="NAME", help="Optimizer: random, gp (bayesian), forest, gbrt (scikit-optimize); tpe, cmaes, "
              "optuna-random (Optuna); + (grid); or one named in rundb.yml.")
@click.option("-O", "--optimize", is_flag=True, help="Use the operation's default optimizer (rundb.yml).")
@click.option("-Fo", "--opt-flag", "opt_flags", multiple=True, metavar="NAME=VALUE", help="Optimizer flag (repeatable).")
@click.option("-m", "--max-trials", type=int, metavar="N", help="At most N trials (default 20 for optimizers).")
@click.option("-x", "--minimize", metavar="COL", help="Column the optimizer minimizes (default: loss).")
@click.option("-X", "--maximize", metavar="COL", help="Column the optimizer maximizes.")
@click.option("--prev-trials", default="batch", show_default=True, metavar="SCOPE",
              help="Earlier trials an optimizer learns from: batch, operation, sourcecode or query.")
@click.option("--prev-trials-filter", metavar="EXPR", help="With --prev-trials query: which runs.")
@click.option("--prune", metavar="RULE",
              help="Stop hopeless trials early: median, percentile:P, asha, hyperband or none "
              "(Optuna's pruners).")
@click.option("--prune-on", metavar="SCALAR",
              help="The scalar whose curve the pruner judges (default: the objective's).")
@click.option("--prune-warmup", type=int, metavar="N", help="Steps before any pruning (default 0).")
@click.option("--prune-min-trials", type=int, metavar="N",
              help="Trials finished before any pruning (default 5).")
@click.option("--print-trials", is_flag=True, help="Show the batch's trials, then exit.")
@click.option("--save-trials", metavar="PATH", help="Save the batch's trials as CSV, then exit.")
@click.option("--fail-on-trial-error", is_flag=True, help="Stop the batch when a trial fails.")
@click.option("--needed", is_flag=True, help="Skip runs whose flags match a completed run.")
@click.option("--parallel", type=click.IntRange(min=1), metavar="N",
              help="Run up to N trials of a batch at once, on a local Dask cluster of N "
              "workers (with --cluster: default one per worker thread).")
@click.option("--cluster", metavar="ADDRESS", envvar="RUNDB_DASK_SCHEDULER",
              help="Run a batch's trials on an existing Dask scheduler, e.g. tcp://host:8786 "
              "(default $RUNDB_DASK_SCHEDULER; needs a PostgreSQL index).")
@click.option("--trial", "trial_json", hidden=True, metavar="JSON",
              help="Record and run one trial of a parallel batch (used by its workers).")
@click.pass_context
@pass_home
def run(home, ctx, args, yes, label, tags, force_flags, print_cmd, help_op,
        test_output_scalars, random_seed, quiet, no_sys_metrics, optimizer, optimize, opt_flags, max_trials,
        minimize, maximize, prev_trials, prev_trials_filter, prune, prune_on, prune_warmup,
        prune_min_trials, print_trials, save_trials, fail_on_trial_error, needed, parallel,
        cluster, trial_json):
    """Run a script or an operation as a tracked run.

    ARGS is a Python script or an operation from rundb.yml followed by NAME=VALUE flag
    assignments; or, after `--`, any command line.

    \b
    Examples:
      rundb run train.py lr=0.01 epochs=5 -y
      rundb run train            # operation 'train' in rundb.yml
      rundb run -- ./train.sh --fast
    """
    if trial_json:
        import json

        raise click.exceptions.Exit(api.run_trial(home, json.loads(trial_json)))
    spec, assigns, exec_argv = _split(ctx, args)
    plan = api.plan_run(spec, exec_argv=exec_argv, sys_metrics=not no_sys_metrics)
    if help_op:
        click.echo(_op_help(plan))
        return
    if test_output_scalars:
        _test_output_scalars(plan, test_output_scalars)
        return
    from rundb.flagvals import parse_flag_assigns

    batch_files, assigns = api.split_batch_files(assigns)
    flags = api.resolve_flags(plan, assigns, force=force_flags)
    batch = api.plan_batch(
        plan, flags, batch_files=batch_files, optimizer=optimizer, optimize=optimize,
        opt_assigns=parse_flag_assigns(list(opt_flags)), max_trials=max_trials,
        random_seed=random_seed, minimize=minimize, maximize=maximize,
        prev_trials=prev_trials, prev_trials_filter=prev_trials_filter,
        fail_on_trial_error=fail_on_trial_error, needed=needed, parallel=parallel,
        cluster=cluster, prune=prune, prune_on=prune_on, prune_warmup=prune_warmup,
        prune_min_trials=prune_min_trials,
    )
    if batch is not None:
        _run_batch(home, batch, label, tags, yes, quiet, print_cmd, print_trials, save_trials)
        return
    if print_trials or save_trials:
        raise click.ClickException("cannot print trials for a non-batch operation")
    if max_trials is not None:
        click.echo("WARNING: not a batch run - ignoring --max-trials", err=True)
    if parallel and parallel > 1:
        click.echo("WARNING: not a batch run - ignoring --parallel", err=True)
    if print_cmd:
        click.echo(shlex.join(api.command_line(plan, flags)))
        return
    if needed and _skip_needed(home, plan, flags):
        return
    if not yes and not _confirm(plan, flags):
        raise click.exceptions.Exit(1)
    finished = api.run(home, plan, flags, label=label, tags=tags, echo=not quiet,
                       random_seed=random_seed)
    if finished.status != "completed":
        detail = {"terminated": "was terminated", "error": "exited with an error"}
        click.echo(f"rundb: run {finished.short_id} {detail.get(finished.status, finished.status)}"
                   f" (exit status {finished.exit_status})", err=True)
        raise click.exceptions.Exit(1)


def _run_batch(home, batch, label, tags, yes, quiet, print_cmd, print_trials, save_trials):
    if print_cmd and batch.sequential:
        raise click.ClickException("optimizer does not support printing trials command")
    if print_trials:
        click.echo(api.trials_table(batch))
        return
    if save_trials:
        click.echo(f"Saving trials to {save_trials}", err=True)
        api.save_trials(batch, save_trials)
        return
    if not yes:
        click.echo("\n".join(api.batch_preview(batch)), err=True)
        if not confirm("Continue?"):
            raise click.exceptions.Exit(1)
    finished = api.run_batch(home, batch, label=label, tags=tags, echo=not quiet)
    if finished.status != "completed":
        raise click.exceptions.Exit(1)


def _skip_needed(home, plan, flags):
    run = api.needed_run(home, plan, flags)
    if run is None:
        return False
    click.echo("Skipping because the following runs match this operation "
               "(--needed specified):", err=True)
    click.echo(f"  [{run.short_id}]  {run.op}  {run.status}  {run.label}", err=True)
    return True


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
    from rundb.flagvals import encode_flag_value

    lines = [f"You are about to run {plan.name}"]
    for name in sorted(flags):
        lines.append(f"  {name}: {encode_flag_value(flags[name])}")
    click.echo("\n".join(lines), err=True)
    return confirm("Continue?")


def _op_help(plan):
    from rundb.flagvals import encode_flag_value

    lines = [f"Usage: rundb run [OPTIONS] {plan.name} [FLAG]...", ""]
    if plan.opdef.description:
        lines += [plan.opdef.description, ""]
    if not plan.flag_defs:
        lines.append("This operation has no flags.")
        return "\n".join(lines)
    lines.append("Flags:")
    rows = []
    for name in sorted(plan.flag_defs):
        fd = plan.flag_defs[name]
        desc = fd.description or ""
        rows.append([name, f"{desc} (default is {encode_flag_value(fd.default)})".lstrip()])
        if fd.choices:
            rows.append(["", f"Choices: {', '.join(encode_flag_value(c) for c in fd.choices)}"])
    width = terminal_width()
    table = table_text(None, rows, width=width - 2 if width else 0)  # indented by two
    lines += ["  " + line for line in table.splitlines()]
    return "\n".join(lines)


def _test_output_scalars(plan, path):
    if path == "-":
        text = sys.stdin.read()
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    click.echo(api.output_scalars_test(plan, text.splitlines()), nl=False)
