"""What to run: a Python script, an operation from rundb.yml, or any command.

``resolve(spec, cwd)`` turns what the user typed into an :class:`OpPlan`, which knows
the operation's flag definitions, how the process receives its flags (command-line
arguments, patched module globals, or only environment variables) and which output
scalar patterns apply. ``command(plan, flags)`` builds the argv for one set of flags.
"""

import json
import os
import shlex
import sys
from dataclasses import dataclass, field

from ..errors import OpError


@dataclass
class OpPlan:
    name: str  # shown in listings: train.py, train, mnist:train, python
    kind: str  # "script" | "module" | "exec"
    target: object  # script path, module argv, or exec argv/template
    project_dir: str
    opdef: object  # rundb.config.OpDef: flag definitions, compare, objective, optimizers
    flags_dest: str = "args"  # "args" | "globals" | "none"
    keras: bool = False
    #: flag name -> flagimport.FlagDef: option names and switches of an argparse script
    script_flags: dict = field(default_factory=dict)

    @property
    def flag_defs(self):
        return self.opdef.flags

    def output_scalars_config(self):
        """Config for OutputScalarParser, or None when output scalars are off."""
        cfg = self.opdef.output_scalars
        if cfg is False or cfg == "no" or cfg == []:
            return None
        return cfg

    def describe(self):
        return {"kind": self.kind, "target": self.target, "project_dir": self.project_dir}


def resolve(spec, cwd, exec_argv=None):
    """The plan for ``spec`` (an op name, a script path) or for ``exec_argv``.

    :raises OpError: no such operation or script.
    """
    from ..config import OpDef, load_config

    if exec_argv:
        return _exec_plan(exec_argv, cwd)
    config = load_config(cwd)
    if spec is None:
        if config is None:
            raise OpError("cannot find a default operation\nTry 'rundb operations' for a list.")
        return _config_plan(config.default_op(), cwd)
    if config is not None and _defines(config, spec):
        return _config_plan(config.find_op(spec), cwd)
    path = os.path.join(cwd, spec)
    if spec.endswith(".py") or os.path.isfile(path):
        if not os.path.isfile(path):
            raise OpError(f"cannot find script {spec}")
        return _script_plan(path, cwd, OpDef)
    if config is not None:
        return _config_plan(config.find_op(spec), cwd)
    raise OpError(
        f"cannot find operation {spec}\n"
        "You may need to include a model in the form MODEL:OPERATION.\n"
        "Try 'rundb operations' for a list of available operations."
    )


def _defines(config, spec):
    try:
        config.find_op(spec)
    except OpError:
        return False
    return True


def _script_plan(path, cwd, OpDef):
    from ..config import FlagDef
    from .flagimport import inspect_script

    info = inspect_script(path)
    flags = {
        name: FlagDef(name=name, default=fd.default, description=fd.description or "",
                      choices=fd.choices, type=fd.type)
        for name, fd in info.flags.items()
    }
    name = os.path.relpath(path, cwd) if path.startswith(cwd) else os.path.basename(path)
    opdef = OpDef(name=name, flags=flags)
    return OpPlan(
        name=name, kind="script", target=os.path.abspath(path), project_dir=cwd,
        opdef=opdef, flags_dest=info.dest, keras=info.uses_keras, script_flags=info.flags,
    )


def _config_plan(opdef, cwd):
    name = f"{opdef.model}:{opdef.name}" if opdef.model else opdef.name
    if opdef.exec:
        return OpPlan(name=name, kind="exec", target=opdef.exec, project_dir=cwd,
                      opdef=opdef, flags_dest="none")
    if not opdef.main:
        raise OpError(f"operation {name} defines neither 'main' nor 'exec'")
    module_argv = shlex.split(opdef.main)
    plan = OpPlan(name=name, kind="module", target=module_argv, project_dir=cwd, opdef=opdef)
    script = os.path.join(cwd, *module_argv[0].split(".")) + ".py"
    if os.path.isfile(script):
        _import_script_flags(plan, script)
    if opdef.flags_dest:
        plan.flags_dest = "globals" if opdef.flags_dest.startswith("global") else opdef.flags_dest
    return plan


def _import_script_flags(plan, script):
    """Script-detected flag dest, Keras use, and imported flag defs (``flags-import``)."""
    from ..config import FlagDef
    from .flagimport import inspect_script

    info = inspect_script(script)
    plan.flags_dest = info.dest
    plan.keras = info.uses_keras
    plan.script_flags = info.flags
    opdef = plan.opdef
    wanted = opdef.flags_import
    skip = set(opdef.flags_import_skip or ())
    for name, fd in info.flags.items():
        imported = wanted is True or (isinstance(wanted, list) and name in wanted)
        if name in opdef.flags:
            # Defined flags take description and choices from the script when unset.
            d = opdef.flags[name]
            d.description = d.description or fd.description or ""
            d.choices = d.choices if d.choices is not None else fd.choices
        elif imported and name not in skip:
            opdef.flags[name] = FlagDef(
                name=name, default=fd.default, description=fd.description or "",
                choices=fd.choices, type=fd.type,
            )


def _exec_plan(argv, cwd):
    from ..config import OpDef

    first = os.path.basename(argv[0])
    if first.startswith("python") and len(argv) > 1 and not argv[1].startswith("-"):
        first = os.path.basename(argv[1])
    return OpPlan(name=first, kind="exec", target=list(argv), project_dir=cwd,
                  opdef=OpDef(name=first), flags_dest="none")


def command(plan, flags):
    """The argv that runs ``plan`` with ``flags``."""
    python = [sys.executable, "-u"]
    if plan.kind == "script":
        if plan.flags_dest == "globals":
            return [*python, "-m", "rundb.ops.pyshim", "--globals", json.dumps(flags),
                    plan.target]
        return [*python, plan.target, *flag_args(plan, flags)]
    if plan.kind == "module":
        module, *rest = plan.target
        if plan.flags_dest == "globals":
            script = os.path.join(plan.project_dir, *module.split(".")) + ".py"
            return [*python, "-m", "rundb.ops.pyshim", "--globals", json.dumps(flags),
                    script, *rest]
        return [*python, "-m", module, *rest, *flag_args(plan, flags)]
    if isinstance(plan.target, list):
        return _locate_executable(list(plan.target), plan.project_dir)
    return _locate(shlex.split(_substitute(plan.target, plan, flags)), plan.project_dir)


def _locate(argv, project_dir):
    """An exec op runs in its run directory: point ``python`` at this interpreter and
    project-relative file arguments at the project, so ``python fit.py`` still works."""
    out = []
    for i, arg in enumerate(argv):
        if i == 0 and arg in ("python", "python3"):
            out.append(sys.executable)
        elif not os.path.isabs(arg) and not arg.startswith("-") and os.path.isfile(
            os.path.join(project_dir, arg)
        ):
            out.append(os.path.join(project_dir, arg))
        else:
            out.append(arg)
    return out


def _locate_executable(argv, project_dir):
    """A command given after ``--`` runs in its run directory: a relative executable
    (``./train.sh``, ``bin/fit``) is the project's, so it is resolved against the project."""
    first = argv[0]
    if not os.path.isabs(first) and os.sep in first:
        candidate = os.path.join(project_dir, first)
        if os.path.exists(candidate):
            argv[0] = os.path.normpath(candidate)
    return argv


def process_env(plan, flags):
    """Environment for the run's process: flags as ``FLAG_*`` and the project on the
    Python path (the process runs in its run directory, not the project)."""
    env = flag_env(flags)
    if plan.kind != "exec" or not isinstance(plan.target, list):
        path = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = plan.project_dir + (os.pathsep + path if path else "")
    env["RUNDB_PROJECT_DIR"] = plan.project_dir
    return env


def flag_args(plan, flags):
    """``--name value`` arguments for an argparse-style script."""
    from .flagimport import flag_args

    return flag_args(flags, plan.script_flags)


def format_arg(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _substitute(template, plan, flags):
    out = template.replace("${flag_args}", " ".join(shlex.quote(a) for a in flag_args(plan, flags)))
    for name, value in flags.items():
        out = out.replace("${%s}" % name, shlex.quote(format_arg(value)) if value is not None else "")
    return out


def flag_env(flags):
    """``FLAG_<NAME>`` environment variables for every flag."""
    env = {}
    for name, value in flags.items():
        key = "FLAG_" + "".join(c if c.isalnum() else "_" for c in name).upper()
        env[key] = "" if value is None else format_arg(value)
    return env
