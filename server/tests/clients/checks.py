"""What the Python client scripts share: one line per check, and the first failure ends the script."""
import sys


def check(name, got, want):
    if got != want:
        print(f"FAIL {name}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok {name}")
