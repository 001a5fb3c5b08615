"""Sampling profiles of the processes under load (``python -m bench.run --profile``).

py-spy (``pip install py-spy``) records a process from outside, without
changing it; the folded stacks are summarised here into the functions with
the largest share of samples, inclusive and self, so a run's JSON says where
the time went. ``python -m bench.profile FILE`` prints a summary of one file.
"""
import collections
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import PYTHON


def py_spy():
    local = Path(PYTHON).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


class Recording:
    """``py-spy record`` of one process for ``seconds``, folded stacks to ``path``."""

    def __init__(self, pid, seconds, path, rate=250):
        self.path = Path(path)
        self.proc = subprocess.Popen(
            [py_spy(), "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", str(rate),
             "-f", "raw", "-o", str(self.path), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self, timeout=120):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(10)
        return summarise(self.path) if self.path.exists() else None


def summarise(path, top=25):
    inclusive, own, total = collections.Counter(), collections.Counter(), 0
    for line in Path(path).read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    share = lambda c: [(round(100.0 * n / total, 1), f) for f, n in c.most_common(top)]  # noqa: E731
    return {"samples": total, "file": str(path), "inclusive_pct": share(inclusive),
            "self_pct": share(own)}


def main(argv=None):
    argv = argv or sys.argv[1:]
    for path in argv:
        s = summarise(path)
        print(f"{path}: {s['samples']} samples")
        print("  inclusive:")
        for pct, frame in s["inclusive_pct"]:
            print(f"    {pct:5.1f}%  {frame}")
        print("  self:")
        for pct, frame in s["self_pct"]:
            print(f"    {pct:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
