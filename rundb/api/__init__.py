"""The service layer: one plain function per user action.

Each function takes a :class:`~rundb.home.Home` first, opens the index, does one thing and
returns data; none prints. The CLI, the web view, the TensorBoard mirror and the notebook
API are all clients of this package.

One module per area holds the real functions; every public one is re-exported here, so
``from rundb import api; api.compare(home, ...)`` works. They are loaded on first use
(``from rundb import api`` imports nothing else), which keeps each command's start-up to
the modules it needs.

=================  ==============================================================
module             functions
=================  ==============================================================
``running``        plan_run, operations, resolve_flags, run
``batch``          plan_batch, run_batch, run_trial
``listing``        runs, runs_brief, count_runs, run_info, scalar_summaries,
                   select_run_ids, runs_by_id, scalar_points, run_scalar_points,
                   run_times, run_positions
``manage``         label_runs, tag_runs, mark_runs, comment_runs, delete_runs,
                   restore_runs, purge_runs
``comparison``     compare, run_value, query
``indexing``       rebuild_index, check_index, index_error
``sql``            sql_query
``export``         export_runs, export_sql, export_csv, archive_runs, import_runs
``guild_import``   guild_runs, import_guild
``files``          run_file, read_run_file, follow_run_file, run_is_running, run_files,
                   watched_run, run_progress
``diff``           diff_pair, diff_runs, diff_run_sources, diff_run_outputs,
                   run_packages
``functions``      run_function (Python functions as runs, for rundb.ipy)
``control``        request_stop (stop running runs through the index)
``web``            runs_table, run_series, one_run_series, run_details, run_output_tail,
                   run_file_list, view_choices (what the web view reads)
``selection``      RunFilter (run selection shared by the modules above), select
=================  ==============================================================
"""

import importlib

_AREAS = {
    "running": ("plan_run", "operations", "resolve_flags", "run", "command_line", "needed_run",
                "output_scalars_test"),
    "batch": ("plan_batch", "run_batch", "split_batch_files", "batch_preview", "trials_table",
              "save_trials", "run_trial"),
    "listing": ("runs", "runs_brief", "count_runs", "run_info", "scalar_summaries",
                "select_run_ids", "runs_by_id", "scalar_points", "run_scalar_points",
                "run_times", "run_positions"),
    "manage": ("label_runs", "tag_runs", "mark_runs", "comment_runs", "delete_runs",
               "restore_runs", "purge_runs"),
    "comparison": ("compare", "run_value", "query"),
    "indexing": ("rebuild_index", "check_index", "index_error", "index_info", "push_index",
                 "pull_index", "masked_url"),
    "sql": ("sql_query",),
    "export": ("export_runs", "export_sql", "export_csv", "archive_runs", "import_runs"),
    "guild_import": ("guild_runs", "import_guild"),
    "files": ("run_file", "read_run_file", "follow_run_file", "run_is_running", "run_files",
              "watched_run", "run_progress"),
    "diff": ("diff_pair", "diff_runs", "diff_run_sources", "diff_run_outputs", "run_packages"),
    "selection": ("RunFilter", "select"),
    "functions": ("run_function",),
    "control": ("request_stop",),
    "web": ("runs_table", "run_series", "one_run_series", "run_details", "run_output_tail",
            "run_file_list", "view_choices"),
}
_INFRA = {"open_home_index": "rundb.index.db"}

_MODULE_OF = {name: f"{__name__}.{area}" for area, names in _AREAS.items() for name in names}
_MODULE_OF.update(_INFRA)

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
