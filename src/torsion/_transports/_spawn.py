"""Starting a child process: descriptors, environment, identity, exec.

:func:`spawn` does the work of ``reactor.spawnProcess`` that needs no
reactor: it makes the pipes (or the pty), starts the child and returns its pid
with the parent's ends of the pipes.

How a child is started (decided here, and why):

* ``os.posix_spawn`` when no working directory, uid or gid is asked for.  It
  runs in C between fork and exec (glibc uses ``clone(CLONE_VM|CLONE_VFORK)``),
  so it is safe while other threads run and cheap for a large parent, and it
  reports a failed exec back to the parent as an ``OSError``.  Its file
  actions put any parent descriptor at any child descriptor number, which
  ``subprocess.Popen`` cannot do beyond 0-2 (``pass_fds`` keeps numbers
  unchanged), so ``childFDs`` such as ``{3: "r"}`` need no special case.
* ``os.fork`` then ``os.execve`` otherwise (``path``, ``uid``, ``gid``:
  Python 3.11's ``posix_spawn`` has no chdir or setuid), running the very same
  list of file actions in the child, with the garbage collector off across
  the fork and any failure sent back over a close-on-exec pipe.  This is how
  Twisted has always done it; Python 3.12+ warns about ``fork`` while threads
  run.

Either way the child is started or an ``OSError`` naming the cause is raised
in the parent (no such executable, permission denied, no such working
directory).  Twisted raises too when it can use ``posix_spawnp``, but with a
working directory it forks and the child exits with code 1 and a traceback on
its stderr: raising every time is the clearer of the two.

Hard-won facts:

* Every source descriptor is first copied above the highest target number, so
  no ``dup2`` of the plan overwrites a source another one still needs (a child
  fd 1 <- parent fd 2 and 2 <- 1 swap works).  The copies are close-on-exec;
  ``dup2`` clears that flag on the target.
* Descriptors the child must not get are those we hold *inheritable* (0, 1 and
  2 usually; Python opens everything else close-on-exec): they are closed by
  explicit file actions.
* Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays ignored
  across exec: they (and any other ignored signal) are reset to the default.
* A pty becomes the child's controlling terminal when the child, in a new
  session, opens the slave by name (glibc runs ``setsid`` before the file
  actions).
"""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

__all__ = ["Spawned", "spawn"]

# Switch for tests and unusual platforms: False always forks.
_USE_POSIX_SPAWN = hasattr(os, "posix_spawn")

_STD_CHILD_FDS: dict[int, str | int] = {0: "w", 1: "r", 2: "r"}


@dataclass(frozen=True, slots=True)
class Spawned:
    """A started child: its pid and the parent's ends, by child descriptor."""

    pid: int
    ends: dict[int, tuple[int, bool, bool]]  # child fd -> (our fd, we read, we write)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything needed to start the child, prepared in the parent."""

    executable: str
    argv: list[str | bytes]
    env: Mapping[Any, Any]
    actions: list[tuple[Any, ...]]  # os.posix_spawn file actions, also run after fork
    sigdef: frozenset[int]
    setsid: bool
    cwd: str | bytes | None
    uid: int | None
    gid: int | None
    groups: list[int] | None


def spawn(
    executable: str | bytes,
    args: Sequence[str | bytes],
    env: Mapping[Any, Any] | None,
    path: str | bytes | None,
    uid: int | None,
    gid: int | None,
    usePTY: bool | tuple[int, int, str],
    childFDs: Mapping[int, str | int] | None,
) -> Spawned:
    """Start a child as ``reactor.spawnProcess`` describes; see there for the arguments.

    Raises:
        OSError: the child could not be started; the message names the cause.
        ValueError: a malformed ``childFDs``, or ``childFDs`` with ``usePTY``.
        TypeError: ``args`` is a single string.
    """
    if isinstance(args, str | bytes):
        raise TypeError(f"args must be a sequence of str or bytes, not {type(args).__name__}")
    if usePTY and childFDs is not None:
        raise ValueError("childFDs can't be used with usePTY: the pty is fds 0, 1 and 2")
    child_env: Mapping[Any, Any] = os.environ if env is None else env
    exe = _find_executable(os.fsdecode(executable), child_env)
    argv: list[str | bytes] = list(args) or [os.fsdecode(executable)]
    wanted = dict(_STD_CHILD_FDS if childFDs is None else childFDs)
    _check_child_fds(wanted)
    ends: dict[int, tuple[int, bool, bool]] = {}
    to_close: list[int] = []
    try:
        if usePTY:
            actions = _pty_actions(usePTY, ends, to_close)
            targets = [0, 1, 2]
        else:
            actions = _pipe_actions(wanted, ends, to_close)
            targets = list(wanted)
        actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds(targets)]
        groups = None
        if uid is not None or gid is not None:
            gid = os.getegid() if gid is None else gid
            if os.geteuid() == 0:
                groups = _groups_for(uid, gid)
        plan = _Plan(exe, argv, child_env, actions, _signals_to_reset(), bool(usePTY),
                     path, uid, gid, groups)
        pid = _start(plan)
    except BaseException:
        for fd, _, _ in ends.values():
            os.close(fd)
        raise
    finally:
        for fd in to_close:
            os.close(fd)
    return Spawned(pid, ends)


def _pty_actions(usePTY: bool | tuple[int, int, str], ends: dict[int, tuple[int, bool, bool]],
                 to_close: list[int]) -> list[tuple[Any, ...]]:
    if isinstance(usePTY, tuple):
        master, slave, ttyname = usePTY
    else:
        master, slave = os.openpty()
        ttyname = os.ttyname(slave)
    to_close.append(slave)
    ends[1] = (master, True, True)
    return [(os.POSIX_SPAWN_OPEN, 0, ttyname, os.O_RDWR, 0),
            (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]


def _pipe_actions(wanted: Mapping[int, str | int], ends: dict[int, tuple[int, bool, bool]],
                  to_close: list[int]) -> list[tuple[Any, ...]]:
    actions: list[tuple[Any, ...]] = []
    floor = max(wanted, default=2) + 1
    for child_fd, kind in sorted(wanted.items()):
        if kind in ("r", "w"):
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            ours, theirs = (read_end, write_end) if kind == "r" else (write_end, read_end)
            ends[child_fd] = (ours, kind == "r", kind == "w")
            to_close.append(theirs)
            source = theirs if theirs >= floor else _above(theirs, floor)
        else:
            source = _above(int(kind), floor)
        if source not in to_close:
            to_close.append(source)
        actions.append((os.POSIX_SPAWN_DUP2, source, child_fd))
    return actions


def _check_child_fds(childFDs: Mapping[int, str | int]) -> None:
    for child_fd, kind in childFDs.items():
        if not isinstance(child_fd, int) or child_fd < 0:
            raise ValueError(f"childFDs keys must be descriptor numbers >= 0, not {child_fd!r}")
        if kind not in ("r", "w") and not (isinstance(kind, int) and kind >= 0):
            raise ValueError(
                f"childFDs[{child_fd}] must be 'r', 'w' or a parent descriptor, not {kind!r}")


def _above(fd: int, floor: int) -> int:
    """A close-on-exec copy of ``fd`` numbered at least ``floor``."""
    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    except OSError as exc:
        raise OSError(exc.errno, f"childFDs names parent descriptor {fd}, which is not open: "
                      f"{exc.strerror}") from None


def _find_executable(executable: str, env: Mapping[Any, Any]) -> str:
    """Resolve a bare command name on PATH: the child's PATH if it has one, else ours.

    Raises:
        FileNotFoundError: when no directory on PATH has it.
        PermissionError: when it is found but not executable.
    """
    if "/" in executable:
        return executable
    child_path = None
    for key in ("PATH", b"PATH"):
        try:
            child_path = env.get(key)
        except TypeError:  # os.environ refuses bytes keys
            continue
        if child_path is not None:
            break
    search = os.fsdecode(child_path) if child_path is not None else os.environ.get(
        "PATH", os.defpath)
    denied = None
    for directory in search.split(os.pathsep):
        candidate = os.path.join(directory or ".", executable)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = denied or candidate
    if denied is not None:
        raise PermissionError(errno.EACCES, f"cannot run {denied!r}: permission denied")
    raise FileNotFoundError(
        errno.ENOENT, f"cannot run {executable!r}: no such executable on PATH {search!r}")


def _signals_to_reset() -> frozenset[int]:
    """Signals a child must not inherit as ignored (Python ignores SIGPIPE and SIGXFSZ)."""
    reset = {signal.SIGPIPE}
    if hasattr(signal, "SIGXFSZ"):
        reset.add(signal.SIGXFSZ)
    for signum in signal.valid_signals():
        try:
            if signal.getsignal(signum) == signal.SIG_IGN:
                reset.add(signum)
        except (ValueError, OSError):
            continue
    return frozenset(int(s) for s in reset)


def _inheritable_fds(keep: Iterable[int]) -> list[int]:
    """Our descriptors a child would inherit (not close-on-exec), but for ``keep``."""
    kept = set(keep)
    found = []
    for name in os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"):
        fd = int(name)
        if fd in kept:
            continue
        try:
            if os.get_inheritable(fd):
                found.append(fd)
        except OSError:  # the listing's own descriptor, closed already
            continue
    return found


def _groups_for(uid: int | None, gid: int) -> list[int]:
    """The supplementary groups of ``uid``'s user (just ``gid`` for an unknown user)."""
    if uid is None:
        return [gid]
    import pwd  # noqa: PLC0415 - only when switching users

    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return [gid]
    return os.getgrouplist(name, gid)


def _start(plan: _Plan) -> int:
    """Start the child described by ``plan``; return its pid.

    Raises:
        OSError: the child could not be started; the message names the cause.
    """
    if _USE_POSIX_SPAWN and plan.cwd is None and plan.uid is None and plan.gid is None:
        try:
            return os.posix_spawn(plan.executable, plan.argv, plan.env,
                                  file_actions=plan.actions, setsigdef=plan.sigdef,
                                  setsigmask=(), setsid=plan.setsid)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot run {plan.executable!r}: "
                          f"{exc.strerror or exc}") from None
    return _fork_exec(plan)


def _fork_exec(plan: _Plan) -> int:
    """Start the child with fork and exec; a failure comes back over a pipe."""
    floor = max((a[2] for a in plan.actions if a[0] == os.POSIX_SPAWN_DUP2), default=2) + 1
    raw_read, raw_write = os.pipe2(os.O_CLOEXEC)
    try:
        # Above every target descriptor, so no dup2 of the plan overwrites it.
        err_read = fcntl.fcntl(raw_read, fcntl.F_DUPFD_CLOEXEC, floor)
        err_write = fcntl.fcntl(raw_write, fcntl.F_DUPFD_CLOEXEC, floor)
    finally:
        os.close(raw_read)
        os.close(raw_write)
    gc_enabled = gc.isenabled()
    gc.disable()  # no finalizer may run in the child between fork and exec
    try:
        pid = os.fork()
        if pid == 0:
            _child(plan, err_write)
    except BaseException:
        os.close(err_read)
        raise
    finally:
        if gc_enabled:
            gc.enable()
        os.close(err_write)
    chunks = []
    try:
        while chunk := os.read(err_read, 4096):
            chunks.append(chunk)
    finally:
        os.close(err_read)
    if not chunks:
        return pid
    os.waitpid(pid, 0)
    raise _child_error(plan, b"".join(chunks).decode(errors="replace"))


def _child_error(plan: _Plan, report: str) -> OSError:
    stage, code, detail = report.split("\0", 2)
    what = {
        "chdir": f"cannot change the child's directory to {os.fsdecode(plan.cwd or '')!r}",
        "setgid": f"cannot switch the child to gid {plan.gid}",
        "setuid": f"cannot switch the child to uid {plan.uid}",
        "exec": f"cannot run {plan.executable!r}",
    }.get(stage, f"cannot start the child ({stage})")
    number = int(code) if code.isdigit() else 0
    if not number:
        return OSError(f"{what}: {detail}")
    return OSError(number, f"{what}: {os.strerror(number)}")


def _child(plan: _Plan, err_write: int) -> NoReturn:
    """In the forked child: arrange descriptors and identity, then exec. Never returns."""
    stage = "setup"
    try:
        if plan.setsid:
            os.setsid()
        for action in plan.actions:
            if action[0] == os.POSIX_SPAWN_OPEN:
                _, fd, path, flags, mode = action
                opened = os.open(path, flags, mode)
                if opened != fd:
                    os.dup2(opened, fd)
                    os.close(opened)
            elif action[0] == os.POSIX_SPAWN_DUP2:
                os.dup2(action[1], action[2])
            else:
                try:
                    os.close(action[1])
                except OSError:
                    pass
        if plan.cwd is not None:
            stage = "chdir"
            os.chdir(plan.cwd)
        stage = "setgid"
        if plan.groups is not None:
            os.setgroups(plan.groups)
        if plan.gid is not None:
            os.setgid(plan.gid)
        stage = "setuid"
        if plan.uid is not None:
            os.setuid(plan.uid)
        stage = "setup"
        for signum in plan.sigdef:
            try:
                signal.signal(signum, signal.SIG_DFL)
            except (ValueError, OSError):
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        stage = "exec"
        os.execve(plan.executable, plan.argv, plan.env)
    except BaseException as exc:
        code = getattr(exc, "errno", None) or 0
        try:
            os.write(err_write, f"{stage}\0{code}\0{exc}".encode(errors="replace"))
        except BaseException:
            pass
    finally:
        os._exit(127)
