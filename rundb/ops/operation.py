"""One run of an operation: resolve flags, label the run, start it, follow it."""

import logging
import random

from .plan import command, flag_env, process_env

log = logging.getLogger("rundb")


def resolve_flags(plan, assigns, force=False):
    """Defaults of ``plan`` merged with ``NAME=VALUE`` assigns, checked and coerced.

    :raises FlagError: unknown flag, value outside choices, bad type.
    """
    from ..flagvals import parse_flag_assigns

    user = parse_flag_assigns(list(assigns))
    if not plan.opdef.flags:
        # An op that declares nothing (a bare command) takes flags as given.
        return user
    return plan.opdef.coerce_flags(user, force=force)


def make_label(plan, flags, template=None, tags=()):
    """The run label: the template (or the op's) rendered, tags in front."""
    from .labels import run_label

    label = run_label(template or plan.opdef.label, flags)
    return " ".join([*tags, label]).strip() if tags else label


def run_attrs(plan, flags, argv, random_seed=None, extra=None):
    attrs = {
        "cmd": argv,
        "op": plan.describe(),
        "random_seed": random_seed if random_seed is not None else random.randint(0, 2**32),
        "env": flag_env(flags),
    }
    if plan.opdef.compare:
        attrs["compare"] = list(plan.opdef.compare)
    if plan.opdef.objective:
        attrs["objective"] = plan.opdef.objective
    if plan.opdef.label:
        attrs["label_template"] = plan.opdef.label
    attrs.update(extra or {})
    return attrs


def output_scalars_for(plan):
    """Patterns config recorded with the run (so rebuild re-parses the same way)."""
    from ..outputscalars import OutputScalarParser

    config = plan.output_scalars_config()
    if config is None and plan.opdef.output_scalars is not None:
        return None
    return OutputScalarParser(config, keras=plan.keras).patterns_config


def create_run(home, index, plan, flags, *, label=None, tags=(), parent=None,
               random_seed=None, status="running", extra_attrs=None):
    """Record a new run of ``plan`` with ``flags`` (its process is not started)."""
    from ..index import store
    from .requires import check_requires, provide
    from .runner import new_run

    requires = plan.opdef.requires
    check_requires(requires, plan.project_dir)  # before anything is recorded
    argv = command(plan, flags)
    snapshot = plan.kind != "exec" or not isinstance(plan.target, list)
    run = new_run(
        home, index, plan.name, flags,
        label=make_label(plan, flags, label, tags), tags=tags, parent=parent,
        attrs=run_attrs(plan, flags, argv, random_seed, extra_attrs),
        output_scalars=output_scalars_for(plan), status=status,
        sourcecode_root=plan.project_dir if snapshot else None,
    )
    if requires:
        try:
            provided = provide(requires, plan.project_dir, run.dir)
        except Exception:
            store.save_run(index, run, status="error", stopped=run.started, pid=None)
            raise
        store.save_run(index, run, attrs={**run.attrs, "requires": provided})
    return run


def start_run(home, index, plan, run, echo=True):
    """Start the process of a recorded run and follow it to its end; return the Run."""
    from ..index import store
    from ..run import now_us
    from .runner import execute

    if run.status != "running":
        import os

        store.save_run(index, run, status="running", started=now_us(), pid=os.getpid())
    return execute(home, index, run, run.attrs["cmd"], env=process_env(plan, run.flags), echo=echo,
                   sys_metrics=plan.opdef.sys_metrics)


def run_once(home, index, plan, flags, *, label=None, tags=(), parent=None,
             random_seed=None, echo=True, extra_attrs=None):
    """Create the run for ``flags``, start its process and wait for it; return the Run."""
    run = create_run(home, index, plan, flags, label=label, tags=tags, parent=parent,
                     random_seed=random_seed, extra_attrs=extra_attrs)
    return start_run(home, index, plan, run, echo=echo)
