"""rundb errors.

The library raises these and never exits or prints; the CLI turns them into one
``rundb: ...`` line on stderr (exit 1), or a usage error (exit 2) for bad query text.

* RundbError
  x QueryError          malformed query text (has .text, .pos, .line)
  x TimeRangeError      malformed --started range (has .pos)
  x RunNotFound         no run matches a run spec
  x AmbiguousRun        a short id prefix matches several runs
  x FlagError           unknown flag, bad value, bad range
  x BatchError          trials, batch files, search spaces, optimizers
  x OpError             cannot find or load an operation (rundb.yml, script)
  x EventFileError      a corrupt TF event file (names the file and offset)
  x MetaError           a run's meta.json is missing or unreadable
  x IndexSchemaError    index unreadable, or its schema is newer than this rundb
  x IndexConnectionError  the index server cannot be reached or refuses us
  x IndexDamaged        index missing beside run directories, or SQLite says it is malformed
  x HomeNotFound        no rundb home at the path (read-only commands never create one)
  x HomeReadOnly        a write to a home on a read-only file system or without write access
  x ExportError         export/import problems (missing or invalid paths)
  x UnsafePathError     a path built from outside data leaves its home, or goes through a symlink
  x ReadOnlyError       a write attempted through `rundb sql`
  x SQLError            SQLite rejected a `rundb sql` statement
  x LogdirError         `rundb tensorboard` cannot use a log directory
  x RunFileError        a run's file is missing or outside its run directory
  x DiffError           `rundb diff` needs two runs
"""


class RundbError(Exception):
    "Base class of every error rundb raises on purpose."

    #: exit status the CLI uses for this error
    exit_code = 1


class QueryError(RundbError):
    "Malformed query text."

    exit_code = 2

    def __init__(self, msg, text=None, pos=None, line=None):
        super().__init__(msg)
        self.msg = msg
        self.text = text
        self.pos = pos
        self.line = line

    def __str__(self):
        if self.pos is None:
            return self.msg
        return f"{self.msg}, line {self.line}, pos {self.pos}"

    def caret(self):
        """The offending line of text with a ``^`` under the error position."""
        if self.text is None or self.pos is None:
            return ""
        start = self.text.rfind("\n", 0, self.pos) + 1
        end = self.text.find("\n", self.pos)
        line = self.text[start : end if end >= 0 else None]
        return f"{line}\n{' ' * (self.pos - start)}^"


class TimeRangeError(RundbError):
    "Malformed time range for --started."

    exit_code = 2

    def __init__(self, msg, pos=None):
        super().__init__(msg)
        self.pos = pos


class RunNotFound(RundbError):
    "No run matches the given id, index or range."


class AmbiguousRun(RundbError):
    "A short id prefix matches more than one run."


class FlagError(RundbError):
    "Unknown flag, bad flag value or bad range."


class BatchError(RundbError):
    "Bad trials, batch file, search space or optimizer settings."


class OpError(RundbError):
    "Cannot find or load an operation."


class EventFileError(RundbError):
    "A TF event file holds a corrupt record."


class MetaError(RundbError):
    "A run's meta.json is missing or unreadable."


class IndexSchemaError(RundbError):
    "The index cannot be used by this version of rundb."


class IndexConnectionError(RundbError):
    "The index's database server cannot be reached, or refuses the connection."


class IndexDamaged(IndexSchemaError):
    "The index is missing or malformed; `rundb index rebuild` recreates it from the runs."


class HomeNotFound(RundbError):
    "There is no rundb home at the given path."


class HomeReadOnly(RundbError):
    "The rundb home cannot be written (read-only file system or no write access)."


class ExportError(RundbError):
    "Export or import cannot proceed."


class UnsafePathError(RundbError):
    "A path built from data read from outside would leave its home or follow a symlink."


class ReadOnlyError(RundbError):
    "A statement tried to change the index through a read-only connection."


class SQLError(RundbError):
    "SQLite rejected a statement (syntax error, no such table, ...)."


class LogdirError(RundbError):
    "The log directory cannot be used (not empty and not made by rundb tensorboard)."


class RunFileError(RundbError):
    "A run's file cannot be read: missing, or outside the run directory."


class DiffError(RundbError):
    "Runs cannot be compared (fewer than two selected)."
