"""Run the workflow's default target in this Python process (a cheap stand-in for `snakemake`).

Snakemake builds the DAG (same Snakefile, config, input functions and params as a real run);
each job's script is then executed here, in topological order, with the ``snakemake`` object
the ``script:`` directive would give it. Imports (pandas, scipy, matplotlib) and numba
compilation are paid once per test session instead of once per job, which is what makes a
matrix of many cohorts affordable in ``make test``. Scheduling, file checks, locking and
metadata are Snakemake's business and are covered by the tests that run the real command line
(``workflow_helpers.snakemake``).

This uses Snakemake's internal DAG (``Workflow._prepare_dag`` / ``_build_dag``, Snakemake 9);
should a Snakemake release change them, these tests fail loudly rather than pass silently.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import runpy
from dataclasses import dataclass
from pathlib import Path


@dataclass
class JobOutcome:
    rule: str
    wildcards: dict
    ok: bool
    error: str  # the script's one-line error (stderr), empty when ok
    outputs: list[str]
    log: str


def _jobs(workdir: Path, configfile: Path):
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        wf_api = api.workflow(
            ResourceSettings(cores=1),
            ConfigSettings(configfiles=[Path(configfile)], replace_workflow_config=True),
            snakefile=Path(workdir) / "Snakefile",
            workdir=Path(workdir),
        )
        wf_api.dag(DAGSettings())
        wf = wf_api._workflow
        wf._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True)
        wf._build_dag()
        ordered = [job for level in wf.dag.toposorted() for job in level]
        return [
            dict(
                rule=job.rule.name,
                script=(Path(job.rule.basedir) / job.rule.script) if job.rule.script else None,
                input=job.input,
                output=job.output,
                params=job.params,
                wildcards=job.wildcards,
                log=job.log,
                config=wf.config,
            )
            for job in ordered
        ]


def run_default_target(workdir: Path, configfile: Path, env: dict | None = None) -> list[JobOutcome]:
    """Every job of the default target, in order; a failed job stops the run (as Snakemake)."""
    from snakemake.script import Snakemake

    workdir = Path(workdir).resolve()
    cwd = Path.cwd()
    saved_env = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    outcomes: list[JobOutcome] = []
    try:
        jobs = _jobs(workdir, configfile)
        os.chdir(workdir)
        for job in jobs:
            if job["script"] is None:
                continue
            for path in [*job["output"], *job["log"]]:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            smk = Snakemake(
                job["input"],
                job["output"],
                job["params"],
                job["wildcards"],
                1,
                None,
                job["log"],
                job["config"],
                job["rule"],
                None,
                str(job["script"].parent),
            )
            stderr = io.StringIO()
            ok = True
            # the script's runner points the root logger at the job's log: give it back after
            handlers, level = logging.root.handlers[:], logging.root.level
            with contextlib.redirect_stderr(stderr):
                try:
                    runpy.run_path(str(job["script"]), init_globals={"snakemake": smk}, run_name="__main__")
                except SystemExit as exc:  # ketamine_bzd.runner.run exits 1 after logging
                    ok = exc.code in (0, None)
                except Exception as exc:  # noqa: BLE001 - outside runner.run (e.g. an import)
                    ok = False
                    print(f"ERROR in rule {job['rule']} (before its runner): {exc!r}", file=stderr)
                finally:
                    for h in logging.root.handlers:
                        if h not in handlers:
                            h.close()
                    logging.root.handlers[:] = handlers
                    logging.root.setLevel(level)
            log = Path(job["log"][0]).read_text() if job["log"] else ""
            outcomes.append(
                JobOutcome(
                    job["rule"],
                    dict(job["wildcards"].items()),
                    ok,
                    stderr.getvalue().strip(),
                    list(job["output"]),
                    log,
                )
            )
            if not ok:
                break
    finally:
        os.chdir(cwd)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return outcomes
