"""Exact-count checks for the end-to-end scripts' Python parts (tests/e2e/lib.sh puts this
folder on PYTHONPATH): check() prints what it compared, done() exits 1 if any differed."""
import sys

_failed = 0


def check(name, got, want):
    global _failed
    print(f"{name}: got {got}, want {want}")
    if got != want:
        _failed += 1


def done():
    if _failed:
        print(f"{_failed} check(s) failed")
    sys.exit(1 if _failed else 0)
