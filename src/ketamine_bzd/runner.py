"""Glue for the thin ``scripts/``: logging to the rule's log, one clear error line, and each
job's true peak memory (``peak RSS (VmHWM) N MB``, the last line of every job's log: Snakemake's
benchmark TSV samples memory every 30 s after the first 15 s and misses short peaks of long
jobs, issue 10)."""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

PEAK_RSS_LINE = "peak RSS (VmHWM) {mb} MB"


def peak_rss_mb(status: str | Path = "/proc/self/status") -> int | None:
    """This process's peak resident set size (``VmHWM``) in MB; None where /proc has none."""
    try:
        text = Path(status).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)  # kB
    return None


def _log_peak_rss(log: logging.Logger) -> None:
    mb = peak_rss_mb()
    if mb is not None:
        log.info(PEAK_RSS_LINE.format(mb=mb))


def run(snakemake, main: Callable[[object, logging.Logger], None]) -> None:
    """Run ``main(snakemake, log)`` with logging sent to the rule's ``log:`` file.

    A failure is logged with its traceback and reported on stderr as one line naming the rule
    and wildcards, then the job exits non-zero (Snakemake shows the log with
    ``--show-failed-logs``).
    """
    log_path = snakemake.log[0]
    logging.basicConfig(
        filename=log_path,
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
    log = logging.getLogger(f"ketamine_bzd.{snakemake.rule}")
    wildcards = dict(snakemake.wildcards.items())
    where = f"rule {snakemake.rule}" + (f" {wildcards}" if wildcards else "")
    start = time.perf_counter()
    try:
        main(snakemake, log)
    except Exception as exc:  # one clear line for the user; the traceback goes to the log
        log.error("%s failed: %s\n%s", where, exc, traceback.format_exc())
        print(f"ERROR in {where}: {exc}", file=sys.stderr)
        _log_peak_rss(log)
        sys.exit(1)
    # CPU of the whole process (start-up and imports included): under load, wall time is
    # mostly waiting, and Snakemake's benchmark TSV samples CPU as it samples memory
    cpu = sum(os.times()[:2])
    log.info("%s finished in %.2f s (process CPU %.2f s)", where, time.perf_counter() - start, cpu)
    _log_peak_rss(log)
