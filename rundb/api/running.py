"""Running one operation: what ``rundb run SPEC`` would run, its flags, and the run itself."""

import os

from ..index.db import open_home_index


def plan_run(spec=None, cwd=None, exec_argv=None, sys_metrics=True):
    """Resolve what ``rundb run SPEC`` would run (a script, an op, a command).

    :param sys_metrics: False turns off the sys/* metrics sampled while it runs (else
        the operation's ``sys-metrics`` setting applies).
    """
    from ..ops.plan import resolve

    plan = resolve(spec, os.path.abspath(cwd or os.getcwd()), exec_argv)
    if not sys_metrics:
        plan.opdef.sys_metrics = False
    return plan


def operations(cwd=None):
    """[(name, description)] of the operations in rundb.yml in ``cwd`` (sorted)."""
    from ..config import load_config

    config = load_config(os.path.abspath(cwd or os.getcwd()))
    if config is None:
        return []
    return sorted((name, op.description or "") for name, op in config.ops.items())


def resolve_flags(plan, assigns, force=False):
    """Flag values for ``plan`` from ``NAME=VALUE`` assigns (defaults filled in)."""
    from ..ops.operation import resolve_flags

    return resolve_flags(plan, assigns, force)


def run(home, plan, flags, label=None, tags=(), echo=True, random_seed=None):
    """Run ``plan`` once with ``flags`` and wait for it to end; return the Run."""
    from ..ops.operation import run_once

    with open_home_index(home, write=True) as index:
        return run_once(home, index, plan, flags, label=label, tags=tags, echo=echo,
                        random_seed=random_seed)


def command_line(plan, flags):
    """The command ``plan`` would run with ``flags`` (``--print-cmd``), as an argv list."""
    from ..ops.plan import command

    return command(plan, flags)


def needed_run(home, plan, flags):
    """A completed run of ``plan``'s operation with exactly ``flags`` (the newest), else
    None: ``--needed`` skips running it again."""
    from ..ops.batch import completed_match

    with open_home_index(home) as index:
        return completed_match(index, plan.name, flags)


def output_scalars_test(plan, lines):
    """How ``plan``'s output-scalar patterns parse ``lines`` (``--test-output-scalars``)."""
    from ..ops.operation import output_scalars_for
    from ..outputscalars import OutputScalarParser, test_output_scalars

    config = output_scalars_for(plan)
    parser = OutputScalarParser.from_config(config if config is not None else [])
    return test_output_scalars(lines, parser)
