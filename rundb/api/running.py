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
