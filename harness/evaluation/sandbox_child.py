"""The code that runs inside the sandbox: the namespace launcher and the trusted test runner.

The evaluator imports it only for its constants: :mod:`harness.evaluation.sandbox` reads this
file's source and runs it with ``python -I -S -c SOURCE launch|run ...`` (``-S``: no ``site``; it
saves ~35 ms a program, and model-written code gets only the standard library). Only the standard
library is used here.

**The runner decides what a pass is**, not the candidate's exit status. It reads its inputs (a
per-run random token, the code, the tests, the entry point, the limits) from a pipe on stdin, empty
once read, and points stdin at ``/dev/null``: neither the token nor the tests are on disk or in any
process's fd 0. It binds every function it needs to locals before candidate code runs (so patching
``os.write``, ``print`` or ``builtins`` changes nothing it uses), blocks ``sys.settrace`` and
``setprofile`` (a trace hook could jump over a failing ``assert``), runs the code, undoes what the
code did to the import system and the modules loaded before it, runs the tests with a pristine copy
of the builtins (so ``builtins.abs = lambda x: 0`` does not pass ``assert abs(f(x) - y) < 1e-9``),
calls ``check(entry_point)`` for HumanEval-style tests, and catches ``BaseException``:
``sys.exit(0)``, ``raise SystemExit`` and ``KeyboardInterrupt`` are failures. A module changed while
the tests ran (a thread, or the function under test, re-patching ``math.isclose``) is a failure too.
Only then does it write the token to its result pipe and leave with ``os._exit`` (no ``atexit``
handler runs). Exiting early, ``os._exit(0)``, killing the process or printing a fake marker all end
without the token: a failure. Reading the runner's own memory (its frames, ``gc``, ``ctypes``,
``/proc/self/mem``) to find the token is out of scope.
"""

from __future__ import annotations

import sys

# ``unshare(2)`` flags and ``mount(2)`` options (linux/sched.h, linux/mount.h).
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x1000, 0x2000, 0x4000, 0x40000
NOBODY = 65534
SETUP_FAILED = 97  # exit status of a launcher whose namespace set-up failed (the evaluator says so)


def launch() -> None:  # pragma: no cover - runs in the sandbox child
    """Enter new namespaces, hide what the program must not touch, drop privileges, run the runner.

    argv: ``launch CONFIG`` (a marshalled dict, in hex). The forked child is PID 1 of the new PID
    namespace: when it ends the kernel kills everything left in the namespace (fork-bomb leaves that
    called ``setsid()``), and a fresh ``/proc`` shows only those processes, not the host's command
    lines or environments.
    """
    import ctypes
    import marshal
    import os

    config = marshal.loads(bytes.fromhex(sys.argv[2]))  # marshal, not json: json's import costs ~10 ms
    libc = ctypes.CDLL(None, use_errno=True)
    user_ns = config["mode"] == "user-namespace"

    def must(result: int, what: str) -> None:
        if result != 0:
            error = os.strerror(ctypes.get_errno())
            os.write(2, f"sandbox setup failed: {what}: {error}\n".encode())
            os._exit(SETUP_FAILED)

    def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> int:
        args = [None if s is None else s.encode() for s in (source, target, fstype, data)]
        return int(libc.mount(args[0], args[1], args[2], flags, args[3]))

    outer_uid, outer_gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | (CLONE_NEWUSER if user_ns else 0)
    must(libc.unshare(flags), "unshare")
    if user_ns:
        # Mapped to nobody, not to root: the capabilities unshare() gave end at the runner's execve,
        # so the program cannot unmount the tmpfs over /tmp or undo the read-only mounts. Outside,
        # the kernel still sees the user's own uid.
        maps = (("setgroups", "deny"), ("uid_map", f"{NOBODY} {outer_uid} 1"), ("gid_map", f"{NOBODY} {outer_gid} 1"))
        for name, line in maps:
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(line)
    must(mount(None, "/", None, MS_REC | MS_PRIVATE, None), "make / private")
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)
    must(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount a private /proc")
    if user_ns:
        # Not nobody on the host: make every inherited mount read-only (mount_setattr(2), Linux
        # 5.12+; syscall 442 on every architecture), so the user's own files cannot be written.
        attr = (ctypes.c_uint64 * 4)(0x1, 0, 0, 0)  # MOUNT_ATTR_RDONLY
        libc.syscall.restype = ctypes.c_long
        result = libc.syscall(442, -100, b"/", 0x8000, ctypes.byref(attr), ctypes.sizeof(attr))  # AT_RECURSIVE
        must(0 if result == 0 else -1, "make the file system read-only")
    for target in config["tmpfs"]:
        must(mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777"), f"tmpfs over {target}")
    for target in config["mask"]:
        must(mount("/dev/null", target, None, MS_BIND, None), f"mask {target}")
    if config["expose"]:
        directory, child = config["expose"]
        staging = "/tmp/.posttrain-expose"
        os.mkdir(staging)
        must(mount(os.path.join(directory, child), staging, None, MS_BIND | MS_REC, None), "bind the interpreter")
        must(mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"), f"tmpfs over {directory}")
        os.mkdir(os.path.join(directory, child))
        must(mount(staging, os.path.join(directory, child), None, MS_MOVE, None), "move the interpreter")
        os.rmdir(staging)
    workdir = config["workdir"]
    os.mkdir(workdir, 0o700)
    if not user_ns:
        os.chown(workdir, NOBODY, NOBODY)
    os.chdir(workdir)
    if user_ns:
        # No execve follows (the runner goes on in this interpreter: one start-up, not two), so the
        # capabilities unshare() gave must go explicitly: capset(2) with every set empty.
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        must(libc.capset(header, (ctypes.c_uint32 * 6)()), "drop capabilities")
    else:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)  # nobody, and no capabilities left: the private work dir is the only writable place
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: no setuid program gives any back
    libc.prctl(1, 9)  # PR_SET_PDEATHSIG = 1, SIGKILL = 9: dies with the launcher; after setuid, which clears it
    run(config["result_fd"])


def run(result_fd: int | None = None) -> None:  # pragma: no cover - runs in the sandbox child
    """The trusted runner: argv ``run RESULT_FD`` (or called by :func:`launch`); stdin holds
    marshal((token, code, tests, entry, limits))."""
    import builtins
    import marshal
    import math  # noqa: F401 - loaded before the code, so restore() undoes ``math.isclose = ...`` too
    import os
    import resource

    write, leave, read, close, dup2, open_ = os.write, os._exit, os.read, os.close, os.dup2, os.open
    compile_, exec_, base_exception, dict_, tuple_, vars_ = compile, exec, BaseException, dict, tuple, vars
    stdout, stderr = sys.stdout, sys.stderr
    settrace, setprofile, gettrace, getprofile = sys.settrace, sys.setprofile, sys.gettrace, sys.getprofile
    result_fd = int(sys.argv[-1]) if result_fd is None else result_fd
    os.set_inheritable(result_fd, False)  # a program it execs does not inherit the result pipe
    chunks = []
    while chunk := read(0, 1 << 20):
        chunks.append(chunk)
    token, code, tests, entry_point, limits = marshal.loads(b"".join(chunks))
    del chunks
    for name, value in limits:  # soft = hard: the program cannot raise them again
        resource.setrlimit(getattr(resource, name), (value, value))
    null = open_(os.devnull, os.O_RDONLY)
    dup2(null, 0)
    close(null)

    def no_tracing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the sandbox disables sys.settrace and sys.setprofile")

    sys.settrace = sys.setprofile = no_tracing  # type: ignore[assignment]
    monitoring = getattr(sys, "monitoring", None)  # 3.12+: callbacks are another kind of trace hook
    if monitoring is not None:
        monitoring.register_callback = monitoring.set_events = monitoring.set_local_events = no_tracing
    pristine_builtins = tuple_(builtins.__dict__.items())
    modules = tuple_(sys.modules.items())
    module_attrs = tuple_((m, tuple_(vars_(m).items())) for _, m in modules if m is not None)
    import_lists = tuple_((lst, tuple_(lst)) for lst in (sys.meta_path, sys.path_hooks, sys.path))

    def restore(undo: bool = True) -> list[str]:
        """What the code changed in the import system and in the modules loaded before it
        (``math.isclose = ...``, ``sys.modules["math"] = fake``, a finder on ``sys.meta_path``),
        undone unless ``undo`` is False (the check after the tests: a thread that re-patches)."""
        changed: list[str] = []
        if undo:
            settrace(None)
            setprofile(None)
        for module, items in module_attrs:
            namespace = vars_(module)
            for key, value in items:
                # Dunders excepted: importing importlib legitimately renames _frozen_importlib.
                if namespace.get(key) is not value and not key.startswith("__"):
                    changed.append(f"{getattr(module, '__name__', '?')}.{key}")
                    if undo:
                        namespace[key] = value
        for current, saved in import_lists:
            if tuple_(current) != saved:  # type: ignore[arg-type]
                changed.append("the import path")
                if undo:
                    current[:] = saved  # type: ignore[assignment]
        loaded = sys.modules
        for name, module in modules:
            if loaded.get(name) is not module:
                changed.append(f"sys.modules[{name!r}]")
                if undo:
                    loaded[name] = module
        if undo:
            before = dict_(modules)
            for name in [n for n, m in loaded.items() if n not in before and getattr(m, "__spec__", None) is None]:
                del loaded[name]  # planted, not imported: the tests import the real one
            sys.path_importer_cache.clear()
        return changed

    def flush() -> None:
        for stream in (stdout, stderr):
            try:  # noqa: SIM105 - contextlib would be one more import in every sandboxed program
                stream.flush()
            except base_exception:
                pass

    def fail(stage: str, error: BaseException) -> None:
        try:
            if isinstance(error, SystemExit):
                stderr.write(f"sandbox: {stage} called exit({error.code!r}) before the tests finished: not a pass\n")
            else:
                import traceback

                trace = error.__traceback__.tb_next if error.__traceback__ else None  # not the runner's frame
                stderr.write("".join(traceback.format_exception(type(error), error, trace)))
                stderr.write(f"sandbox: {stage} raised {type(error).__name__}: not a pass\n")
        except base_exception:
            pass
        flush()
        leave(1)

    namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec_(compile_(code, "solution.py", "exec"), namespace)
    except base_exception as error:
        fail("the code", error)
    try:
        restore()
        test_namespace = dict_(namespace)
        test_namespace["__builtins__"] = dict_(pristine_builtins)
        exec_(compile_(tests, "tests.py", "exec"), test_namespace)
        if entry_point:
            check, candidate = test_namespace.get("check"), test_namespace.get(entry_point)
            if check is None or candidate is None:
                missing = "check" if check is None else entry_point
                raise NameError(f"name {missing!r} is not defined (entry point {entry_point!r})")
            check(candidate)  # type: ignore[operator]
    except base_exception as error:
        fail("the tests" if not isinstance(error, SystemExit) else "the code under test", error)
    if gettrace() is not None or getprofile() is not None:
        write(2, b"sandbox: a trace or profile hook was set during the tests: not a pass\n")
        leave(1)
    if tampered := restore(undo=False):  # e.g. a thread that kept patching while the tests ran
        write(2, f"sandbox: the standard modules changed during the tests ({tampered[0]}): not a pass\n".encode())
        leave(1)
    flush()
    write(result_fd, token)
    leave(0)


if __name__ == "__main__" and len(sys.argv) > 1:  # pragma: no cover - the sandbox child's entry point
    {"launch": launch, "run": run}[sys.argv[1]]()
