"""Glue for the thin ``scripts/``: logging to the rule's log and one clear error line."""

from __future__ import annotations

import logging
import sys
import time
import traceback
from collections.abc import Callable


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
        sys.exit(1)
    log.info("%s finished in %.2f s", where, time.perf_counter() - start)
