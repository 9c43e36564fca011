"""``harvester ARGS`` run inside the test process, as ``python -m harvester ARGS`` runs in a
process of its own: the same ``subprocess.CompletedProcess`` (exit code, stdout, stderr text).

Why: the suite's tests started some 500 ``python -m harvester`` children, each ~0.25 s of CPU
for the interpreter and the package's imports before its first line of work, on a machine of
two cores whose suite runs near its time budget. :func:`harvester.cli.main` given its words
runs the command in-process and returns the code (only the process's own command ends the
process, ``harvester.cli._end_process``), so a test needs no child to see what a user sees.

What a process would keep to itself is kept to the call (:func:`as_own_process`): the
environment, the working folder, ``sys.argv``, standard input (descriptor 0: ``--ids-from -``
reads ``/dev/stdin``), ``sys.stdout``/``sys.stderr``, the logging handlers and levels the
command sets, the signal handlers it installs, its open-files limit, the warnings filters
(a fresh interpreter's, not the suite's ``error``), the module-level state a run leaves
behind for the rest of its process (said-once sets, remembered secrets, the journal's fold),
the main thread's own (the folder locks the test holds: the command's are its own, not
"already held"), and the worker threads it leaves finishing (given the process's grace to
end). No progress bars are drawn (tqdm draws on a terminal only; these streams are none).
A command still running at its timeout is stopped by a Ctrl-C, as a child is killed then.

What needs a real process stays one: :func:`run_cli_process` (SIGKILL, Ctrl-C, the exit
path, start-up imports, two commands at once). Called from a thread other than the main
one, or inside a running event loop (an async test), the command runs as a process too:
in-process it could not take its signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import locale
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import harvester
import harvester.cli
import harvester.config
import harvester.errors
import harvester.forgotten
import harvester.gone
import harvester.index
import harvester.journal
import harvester.retry
import harvester.runlock

#: How long a command's own run may take before the test fails (as subprocess.run's timeout).
CLI_TIMEOUT_S = 120.0

#: The signals whose handlers a command may set (its run watches SIGTERM and SIGHUP).
_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

#: The set-valued module state a run fills for the rest of its process: said-once warnings,
#: the credentials it redacts, config files warned about. A process starts with them empty.
_PROCESS_SETS: tuple[tuple[object, str], ...] = (
    (harvester.gone, "_SAID_DAMAGED"),
    (harvester.forgotten, "_SAID_DAMAGED"),
    (harvester.config, "_WARNED_READABLE"),
    (harvester.errors, "_remembered"),
)

#: harvester.cli's flags of the process's own command, all False in a fresh process.
_CLI_FLAGS = (
    "_process_entry",
    "_stdout_discarded",
    "_stdout_closed",
    "_stdout_failed",
    "_stdout_hung_up",
    "_hangup_taken",
)


def child_env() -> dict[str, str]:
    """This process's environment for a ``python -m harvester`` child that imports this
    very package (first on its PYTHONPATH), its output unbuffered."""
    env = dict(os.environ)
    root = str(Path(harvester.__file__).absolute().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli_process(
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = CLI_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """``python -m harvester ARGS`` as a child process (output captured, bounded in time);
    ``stdin``: text on its standard input, else none (``/dev/null``: a terminal would wait);
    ``cwd``: its working folder (else this process's). For what only a process shows:
    signals, its exit path, two commands at once."""
    return subprocess.run(
        [sys.executable, "-m", "harvester", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=child_env() if env is None else dict(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def run_cli_in_process(
    *args: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = CLI_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """``harvester ARGS`` run by :func:`harvester.cli.main` in this process, kept to itself
    as a child process would be (:func:`as_own_process`); the same result as
    :func:`run_cli_process` with the same arguments. ``env``: its whole environment (else
    this process's); ``cwd``: its working folder. A run past ``timeout`` fails the test
    once it ends (it cannot be cut short in-process). Outside the main thread, or in a
    running event loop: a process."""
    if threading.current_thread() is not threading.main_thread() or _in_event_loop():
        return run_cli_process(*args, stdin=stdin, env=env, cwd=cwd, timeout=timeout)
    argv = [sys.executable, "-m", "harvester", *args]
    started = time.monotonic()
    streams: CapturedStreams | None = None
    with _interrupted_after(timeout) as watch:
        try:
            with as_own_process(list(args), stdin=stdin, env=env, cwd=cwd) as streams:
                code = _exit_code_of(list(args))
        except KeyboardInterrupt:  # (the watch's Ctrl-C, come as the command ended)
            if not watch.fired:
                raise
    assert streams is not None
    if watch.fired or time.monotonic() - started > timeout:
        raise subprocess.TimeoutExpired(argv, timeout, streams.stdout_text(), streams.stderr_text())
    return subprocess.CompletedProcess(argv, code, streams.stdout_text(), streams.stderr_text())


class _Watch:
    """Whether :func:`_interrupted_after` has sent its Ctrl-C."""

    def __init__(self) -> None:
        self.fired = False
        self.running = True
        self.guard = threading.Lock()


@contextlib.contextmanager
def _interrupted_after(timeout: float) -> Iterator[_Watch]:
    """A Ctrl-C (SIGINT to this, the main, thread) for a command still running ``timeout``
    seconds on, as subprocess.run's timeout kills its child: the command stops as a
    process would at a Ctrl-C and :func:`run_cli_in_process` raises TimeoutExpired.

    Why: in the test process nothing else ends a command that hangs (a lock never freed, a
    FIFO no one writes, a wait that never ends): the suite's run hung, with no test named,
    where a child was killed at its timeout and its test failed. A real signal, not
    ``_thread.interrupt_main``: it also ends a wait in the kernel (``flock``, ``open``).
    A Ctrl-C sent as the command ended is taken here, never by the test after it."""
    watch = _Watch()
    main = threading.main_thread().ident
    assert main is not None

    def interrupt() -> None:
        with watch.guard:
            if watch.running:
                watch.fired = True
                signal.pthread_kill(main, signal.SIGINT)

    timer = threading.Timer(timeout, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield watch
    finally:
        with watch.guard:
            watch.running = False
        timer.cancel()
        if watch.fired:
            _late_interrupt_taken()


def _late_interrupt_taken() -> None:
    """A SIGINT sent to this thread and not yet handled is handled now, by doing nothing."""
    saved = signal.signal(signal.SIGINT, lambda _signum, _frame: None)
    try:
        time.sleep(0.05)  # (Python runs a pending signal's handler in the sleep, at once)
    finally:
        signal.signal(signal.SIGINT, saved)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _exit_code_of(args: list[str]) -> int:
    """:func:`harvester.cli.main`'s code, or what the interpreter makes of what escaped it
    (``SystemExit``'s code; an exception: its traceback and 1; Ctrl-C: killed by SIGINT)."""
    try:
        return harvester.cli.main(args)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        traceback.print_exc()
        return -signal.SIGINT
    except Exception:
        traceback.print_exc()
        return 1


class CapturedStreams:
    """The command's standard output and error, as a child's pipes would give them (the
    child's environment ``env``, else this process's: :func:`child_stdout_errors`)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.stdout_bytes = io.BytesIO()
        self.stderr_bytes = io.BytesIO()
        # A process's streams on pipes in a UTF-8 locale: output as the locale has it,
        # errors escaped.
        encoding = env.get("PYTHONIOENCODING", "").partition(":")[0] or "utf-8"
        self.stdout = io.TextIOWrapper(
            self.stdout_bytes,
            encoding=encoding,
            errors=child_stdout_errors(env),
            write_through=True,
        )
        self.stderr = io.TextIOWrapper(
            self.stderr_bytes, encoding=encoding, errors="backslashreplace", write_through=True
        )

    def stdout_text(self) -> str:
        return _as_text(self.stdout_bytes.getvalue())

    def stderr_text(self) -> str:
        return _as_text(self.stderr_bytes.getvalue())


def child_stdout_errors(env: Mapping[str, str]) -> str:
    """The error handler of standard output in a ``python`` child given ``env``, by
    CPython's rule: PYTHONIOENCODING's when it names one; ``surrogateescape`` in UTF-8 mode
    and in the C, POSIX and C.UTF-8 locales (a locale not installed is C); else ``strict``.

    Why: a file name of bytes that are no UTF-8 (``caf\\xe9``) is printed by a child in
    the C.UTF-8 locale as those bytes; written here strictly, the same ``status DIR`` was
    ``internal error: UnicodeEncodeError``, exit 1, a failure no child of this suite has
    (and the one a child in a strict locale, en_US.UTF-8, does have)."""
    errors = env.get("PYTHONIOENCODING", "").partition(":")[2]
    if errors:
        return errors
    if env.get("PYTHONUTF8") == "1":
        return "surrogateescape"
    name = next((env[key] for key in ("LC_ALL", "LC_CTYPE", "LANG") if env.get(key)), "C")
    if name in ("C", "POSIX") or name.lower().replace("-", "") == "c.utf8":
        return "surrogateescape"
    return "strict" if _locale_installed(name) else "surrogateescape"


@functools.cache
def _locale_installed(name: str) -> bool:
    """Whether ``setlocale(LC_CTYPE, name)`` succeeds (this process's set back at once)."""
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, name)
    except locale.Error:
        return False
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
    return True


def _as_text(data: bytes) -> str:
    """Bytes as ``subprocess.run(text=True)`` decodes a pipe: universal newlines (a lone
    ``\\r`` read as a line end too)."""
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


@contextlib.contextmanager
def as_own_process(
    args: list[str],
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[CapturedStreams]:
    """The block runs as the command ``harvester ARGS`` of a fresh process would: what it
    changes of the process is undone when the block ends."""
    streams = CapturedStreams(env)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_environment(env))
        stack.enter_context(_working_folder(cwd))
        stack.enter_context(_arguments(args))
        stack.enter_context(_standard_input(stdin))
        stack.enter_context(_standard_streams(streams))
        stack.enter_context(_logging_state())
        stack.enter_context(_signal_handlers())
        stack.enter_context(_open_files_limit())
        stack.enter_context(_fresh_warnings())
        stack.enter_context(_fresh_module_state())
        stack.enter_context(_threads_given_grace())
        yield streams


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    saved = dict(os.environ)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _working_folder(cwd: Path | None) -> Iterator[None]:
    saved = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


@contextlib.contextmanager
def _arguments(args: list[str]) -> Iterator[None]:
    """``sys.argv`` as ``python -m harvester ARGS`` has it (argparse and messages read it)."""
    saved = sys.argv
    sys.argv = [str(Path(harvester.__file__).with_name("__main__.py")), *args]
    try:
        yield
    finally:
        sys.argv = saved


@contextlib.contextmanager
def _standard_input(text: str | None) -> Iterator[None]:
    """Descriptor 0 (and ``sys.stdin`` on it): ``text`` through a pipe, else ``/dev/null``.
    The command reads ``--ids-from -`` as ``/dev/stdin``, descriptor 0, not ``sys.stdin``."""
    writer: threading.Thread | None = None
    if text is None:
        source = os.open(os.devnull, os.O_RDONLY)
    else:
        source, write_end = os.pipe()
        writer = threading.Thread(
            target=_write_all, args=(write_end, text.encode()), name="cli-stdin", daemon=True
        )
        writer.start()
    saved_fd = os.dup(0)
    saved_stdin = sys.stdin
    os.dup2(source, 0)
    os.close(source)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - closed below
    try:
        yield
    finally:
        sys.stdin.close()
        sys.stdin = saved_stdin
        os.dup2(saved_fd, 0)  # (the pipe's last reader gone: a writer still blocked ends)
        os.close(saved_fd)
        if writer is not None:
            writer.join(10)


def _write_all(fd: int, data: bytes) -> None:
    """The whole of ``data`` into a pipe, then closed (a reader that left: the rest dropped)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _standard_streams(streams: CapturedStreams) -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` captured, as pipes: no terminal, whatever this
    process's are (``sys.__stdout__`` too: argparse's width reads it, 80 columns on a pipe)."""
    saved = sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__
    sys.stdout, sys.stderr = streams.stdout, streams.stderr
    sys.__stdout__, sys.__stderr__ = streams.stdout, streams.stderr  # type: ignore[misc]
    try:
        yield
    finally:
        for stream in (streams.stdout, streams.stderr):
            stream.flush()
        sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = saved  # type: ignore[misc]


@contextlib.contextmanager
def _logging_state() -> Iterator[None]:
    """A fresh process's root logger (no handler, at WARNING) for the block: the command's
    ``basicConfig`` then writes to its stderr; the suite's handlers and every logger's level
    (the command sets some) come back after it."""
    root = logging.getLogger()
    manager = logging.Logger.manager
    loggers = {
        name: each.level
        for name, each in manager.loggerDict.items()
        if isinstance(each, logging.Logger)
    }
    saved_handlers, saved_level, saved_disable = root.handlers[:], root.level, manager.disable
    root.handlers = []
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        logging.disable(saved_disable)
        for name, each in list(manager.loggerDict.items()):
            if isinstance(each, logging.Logger):
                each.setLevel(loggers.get(name, logging.NOTSET))


@contextlib.contextmanager
def _signal_handlers() -> Iterator[None]:
    saved = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


@contextlib.contextmanager
def _open_files_limit() -> Iterator[None]:
    """The soft limit of open files as it was: a harvest raises it for its concurrency
    (harvester.openfiles), for the rest of its process."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        yield
    finally:
        if resource.getrlimit(resource.RLIMIT_NOFILE) != saved:
            resource.setrlimit(resource.RLIMIT_NOFILE, saved)


@contextlib.contextmanager
def _fresh_warnings() -> Iterator[None]:
    """A fresh interpreter's warnings filters (the suite turns every warning into an error:
    in a process a DeprecationWarning of a library is ignored, a UserWarning printed)."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", ImportWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        yield


@contextlib.contextmanager
def _fresh_module_state() -> Iterator[None]:
    """What a run keeps for the rest of its process, as a new process has it; the test
    process's own back after the block.

    And the main thread's: the :func:`harvester.runlock.folder_lock` blocks it is inside
    and the index records it has open. Why: ``folder_lock`` is reentrant within a thread,
    so a command run inside a test's ``with folder_lock(DIR, ...)`` took that lock as its
    own and went on, where a process waits for the test to let it go."""
    sets = [(getattr(module, name), set(getattr(module, name))) for module, name in _PROCESS_SETS]
    appended = dict(harvester.journal._APPENDED)
    memo = harvester.journal._memo
    held_locks = harvester.runlock._inside.__dict__.pop("held", None)
    open_records = harvester.index._RECORDS.__dict__.pop("open", None)
    testing = harvester.retry.is_testing()
    flags = {name: getattr(harvester.cli, name) for name in _CLI_FLAGS}
    temp_folder = tempfile.tempdir  # (None: a process reads TMPDIR afresh)
    for held, _ in sets:
        held.clear()
    harvester.journal._APPENDED.clear()
    harvester.journal._memo = None
    harvester.retry.set_testing(False)
    for name in flags:
        setattr(harvester.cli, name, False)
    tempfile.tempdir = None
    try:
        yield
    finally:
        for held, before in sets:
            held.clear()
            held.update(before)
        harvester.journal._APPENDED.clear()
        harvester.journal._APPENDED.update(appended)
        harvester.journal._memo = memo
        harvester.retry.set_testing(testing)
        for local, name, value in (
            (harvester.runlock._inside, "held", held_locks),
            (harvester.index._RECORDS, "open", open_records),
        ):
            local.__dict__.pop(name, None)
            if value is not None:
                local.__dict__[name] = value
        for name, value in flags.items():
            setattr(harvester.cli, name, value)
        tempfile.tempdir = temp_folder


@contextlib.contextmanager
def _threads_given_grace() -> Iterator[None]:
    """Worker threads the command leaves behind get the grace its process gives them
    (``harvester.cli.THREAD_GRACE``) to end; a process would then end without them."""
    before = set(threading.enumerate())
    try:
        yield
    finally:
        deadline = time.monotonic() + harvester.cli.THREAD_GRACE
        for thread in set(threading.enumerate()) - before:
            if not thread.daemon:
                thread.join(max(0.0, deadline - time.monotonic()))
