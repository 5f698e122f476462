"""Shell completion beyond command names: run ids and list positions, and the flag names
of the script or operation being run (click's shell completion, custom completers).

Enable it once per shell::

    eval "$(_RUNDB_COMPLETE=bash_source rundb)"     # bash (~/.bashrc)
    eval "$(_RUNDB_COMPLETE=zsh_source rundb)"      # zsh (~/.zshrc)

Completers never fail: any error gives no suggestions.
"""

import os

#: How many of the newest runs are offered.
MAX_RUNS = 50


def _home(ctx):
    from rundb.home import Home

    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Home) else Home.resolve(root.params.get("home_path"))


def complete_run(ctx, param, incomplete):
    """Run specs: list positions (``1`` is the newest) and short ids, with the operation
    and label as help."""
    from click.shell_completion import CompletionItem  # only when completing

    try:
        from rundb import api

        home = _home(ctx)
        if not os.path.exists(home.index_path):
            return []
        found = api.runs_brief(home, limit=MAX_RUNS)
    except Exception:  # noqa: BLE001 - completion must never fail
        return []
    items = []
    for position, run in enumerate(found, 1):
        text = f"{run.op} {run.label}".strip()
        if incomplete.isdigit() or not incomplete:
            if str(position).startswith(incomplete):
                items.append(CompletionItem(str(position), help=f"{run.short_id} {text}"))
        if incomplete and run.id.startswith(incomplete.lower()):
            items.append(CompletionItem(run.short_id, help=text))
    return items


def complete_run_args(ctx, param, incomplete):
    """For ``rundb run``: operations and scripts first, then ``NAME=`` for each flag of
    the one given."""
    from click.shell_completion import CompletionItem  # only when completing

    try:
        from rundb import api

        given = list(ctx.params.get(param.name) or ())
        cwd = os.getcwd()
        if not given:
            names = [name for name, _desc in api.operations(cwd)]
            names += sorted(f for f in os.listdir(cwd) if f.endswith(".py"))
            return [CompletionItem(n) for n in names if n.startswith(incomplete)]
        plan = api.plan_run(given[0], cwd=cwd)
        chosen = {a.split("=", 1)[0] for a in given[1:] if "=" in a}
        items = []
        for name, fd in sorted(plan.flag_defs.items()):
            if name in chosen or not f"{name}=".startswith(incomplete.split("=", 1)[0]):
                continue
            if "=" in incomplete:
                continue
            items.append(CompletionItem(f"{name}=", help=fd.description or None))
        return items
    except Exception:  # noqa: BLE001 - completion must never fail
        return []
