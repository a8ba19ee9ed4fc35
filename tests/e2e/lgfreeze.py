#!/usr/bin/env python3
"""Usage: lgfreeze.py PID THREAD_NAME READY_FILE

Stops one thread of a process, not the process.

SIGSTOP would stop every thread (a stop signal acts on the whole thread group), so the
thread is held in a ptrace stop instead: PTRACE_SEIZE + PTRACE_INTERRUPT on its tid. It
stays stopped until this script gets SIGTERM or SIGINT, then PTRACE_DETACH lets it run on.
Writes the tid to READY_FILE once the thread is stopped. Exit 77 where ptrace is refused.
"""
import ctypes, os, signal, sys

PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
WALL = 0x40000000

if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
    print(__doc__.strip())
    sys.exit(0)
if len(sys.argv) > 1 and sys.argv[1].startswith("-"):
    print(f"lgfreeze.py: unknown option {sys.argv[1]}", file=sys.stderr)
    sys.exit(2)
if len(sys.argv) != 4:
    print("Usage: lgfreeze.py PID THREAD_NAME READY_FILE", file=sys.stderr)
    sys.exit(2)
pid, name, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")
        if open(f"/proc/{pid}/task/{t}/comm").read().strip() == name]
if len(tids) != 1:
    sys.exit(f"lgfreeze: {len(tids)} threads of {pid} are named {name}")
tid = tids[0]
if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0:
    print(f"lgfreeze: PTRACE_SEIZE {tid}: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
    sys.exit(77)
libc.ptrace(PTRACE_INTERRUPT, tid, None, None)
os.waitpid(tid, WALL)
state = [l for l in open(f"/proc/{pid}/task/{tid}/status") if l.startswith("State:")][0]
if "t (tracing stop)" not in state:
    sys.exit(f"lgfreeze: thread {tid} is not stopped: {state.strip()}")
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
with open(ready, "w") as f:
    f.write(f"{tid}\n")
signal.sigwait({signal.SIGTERM, signal.SIGINT})
if libc.ptrace(PTRACE_DETACH, tid, None, None) != 0:
    sys.exit(f"lgfreeze: PTRACE_DETACH {tid}: {os.strerror(ctypes.get_errno())}")
