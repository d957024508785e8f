"""What a run shows: on a terminal a live panel (stages done / in Ray / queued / failed, and the
names of those in Ray: running, or next in Ray's queue behind a running one); otherwise one line
per stage that ran or failed. Then a summary."""

from __future__ import annotations

import time
from collections import Counter

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

# How a stage ended; `dvc repro` would have skipped the first two.
UP_TO_DATE, CACHED, RAN, FAILED, SKIPPED, STOPPED = "up to date", "restored", "ran", "failed", "skipped", "stopped"
DONE = (UP_TO_DATE, CACHED, RAN)
VERBS = {
    UP_TO_DATE: "up to date",
    CACHED: "restored from the run cache",
    RAN: "ran",
    FAILED: "failed",
    SKIPPED: "skipped (an upstream stage failed)",
    STOPPED: "stopped (interrupted)",
}


class Display:
    def __init__(self, total: int):
        self.console = Console(stderr=True)
        self.total = total
        self.start = time.perf_counter()
        self.ended: dict[str, str] = {}
        self.running: dict[str, float] = {}  # stage name -> start time
        self.live = Live(self, console=self.console, refresh_per_second=4, transient=True) if self.console.is_terminal else None

    def __enter__(self):
        if self.live:
            self.live.start()
        return self

    def __exit__(self, *exc):
        if self.live:
            self.live.stop()

    def started(self, name: str) -> None:
        self.running[name] = time.perf_counter()

    def ended_as(self, name: str, outcome: str, seconds: float | None = None, error: str | None = None) -> None:
        self.running.pop(name, None)
        self.ended[name] = outcome
        if outcome in (RAN, CACHED, FAILED, STOPPED):
            took = f" ({seconds:.2f} s)" if seconds is not None else ""
            why = f": {error}" if error else ""
            self.console.print(Text(f"{outcome:<9}{name}{took}{why}", style="red" if outcome == FAILED else ""), soft_wrap=True)

    def __rich__(self):
        counts = Counter(self.ended.values())
        done = sum(counts[o] for o in DONE)
        queued = self.total - len(self.ended) - len(self.running)
        now = time.perf_counter()
        line = f" {done}/{self.total} done · {len(self.running)} in Ray · {queued} queued · {counts[FAILED]} failed  {now - self.start:.0f} s"
        names = ", ".join(f"{name} {now - began:.0f} s" for name, began in self.running.items())
        bar = Table.grid()
        bar.add_row(ProgressBar(total=self.total, completed=done, width=30), line)
        return Group(bar, Text(f" in Ray: {names}" if names else "", overflow="ellipsis", no_wrap=True))

    def summary(self, failures: dict[str, str], nodes: int = 0) -> None:
        """The count of each outcome and the run's time; on a cluster, how many Ray nodes ran the
        stages (whether the other nodes took part; one node, the usual case, goes unsaid)."""
        counts = Counter(self.ended.values())
        parts = [f"{counts[o]} {VERBS[o]}" for o in VERBS if counts[o]]
        if len(self.ended) < self.total:  # after Ctrl-C
            parts.append(f"{self.total - len(self.ended)} not started")
        where = f" on {nodes} Ray nodes" if nodes > 1 else ""
        self.console.print(f"{', '.join(parts) or 'no stages'}{where} in {time.perf_counter() - self.start:.1f} s")
        for name, error in failures.items():
            self.console.print(Text(f"failed {name}: {error}", style="red"), soft_wrap=True)
