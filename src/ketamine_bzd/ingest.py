"""The ingest stage: one study's raw export to validated, pseudonymized canonical tables.

``ingest_study`` checks that the key and the raw files are the ones the workflow planned with
(facts, not mtimes: ``rules/common.smk`` puts the key fingerprint and each file's SHA-256 into
the rule's params), reads the export with its format's adapter and returns everything the
``ingest`` rule writes (``rules/ingest.smk``, outputs in ``results/ingest/{study}/part-{part}/``).

Partitions (issue 10): with ``partition=(index, count)`` only the patients of that partition
(``partition.partition_of``) are kept. An adapter that sets ``SUPPORTS_PARTITION = True`` (or,
without that flag, whose ``read`` has a keyword ``partition``) takes ``partition=`` itself and
selects rows right after pseudonymizing the ID column; for any other adapter the whole export is
read and ``parts.select_partition`` keeps the partition's rows.

One ingest job writes every partition of a study (``ingest_partitions``): an adapter with
``read_partitions(study, files, key, count)`` decodes each raw file once and yields the
partitions' results one by one (each equal to its ``read(..., partition=(k, count))``); any
other adapter's whole result is cut by ``parts.select_partition``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .checksum import file_sha256
from .formats import FORMATS
from .formats.common import IngestResult
from .parts import select_partition
from .pseudonym import key_fingerprint, load_key
from .shipped import use_resources
from .soft_problems import count_soft_problems


@dataclass
class IngestedStudy:
    """``result``: the adapter's tables, quarantine and warnings; ``report``: rows per file with
    the file's SHA-256 and the key fingerprint; ``soft_problems``: counts per kind."""

    result: IngestResult
    report: pd.DataFrame
    soft_problems: pd.DataFrame
    key_fingerprint: str


def reader_selects_partition(module) -> bool:
    """Whether a format's ``read`` selects a partition itself: its module's
    ``SUPPORTS_PARTITION`` flag when set, else whether ``read`` takes a keyword ``partition``."""
    flag = getattr(module, "SUPPORTS_PARTITION", None)
    if flag is not None:
        return bool(flag)
    parameter = inspect.signature(module.read).parameters.get("partition")
    return parameter is not None and parameter.kind in (
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )


def ingest_study(
    study: str,
    format_name: str,
    files: dict[str, Path],
    key_file: str | Path,
    expected_fingerprint: str,
    expected_sha256: dict[str, str],
    options: dict | None = None,
    resources: dict[str, str | Path] | None = None,
    partition: tuple[int, int] | None = None,
) -> IngestedStudy:
    """Read ``files`` (by role) of ``study`` in ``format_name`` with the key in ``key_file``.

    ``resources`` maps a shipped register's name (``drugs.csv`` ...) to the copy the rule
    passed in. ``partition``: ``(index, count)``, keep only that partition's patients (module
    doc); ``None`` keeps all. Raises ``ValueError`` when the key or a raw file changed after the workflow
    was planned, or when options are given to a format that takes none.
    """
    if partition is not None:
        index, count = partition
        if not 0 <= index < count:
            raise ValueError(f"partition index {index} outside 0..{count - 1}")
    ingested = ingest_partitions(
        study,
        format_name,
        files,
        key_file,
        expected_fingerprint,
        expected_sha256,
        options,
        resources,
        partitions=None if partition is None else [tuple(partition)],
    )
    try:
        return next(ingested)
    finally:
        ingested.close()  # leave the shipped-resources context now


def ingest_partitions(
    study: str,
    format_name: str,
    files: dict[str, Path],
    key_file: str | Path,
    expected_fingerprint: str,
    expected_sha256: dict[str, str],
    options: dict | None = None,
    resources: dict[str, str | Path] | None = None,
    count: int | None = None,
    partitions: list[tuple[int, int]] | None = None,
    text_as_categories: bool = False,
) -> Iterator[IngestedStudy]:
    """Each of the ``count`` partitions of ``study`` in turn (``ingest_study``'s result for
    partition 0, 1, ...), the raw files decoded once: one ingest job writes every partition.

    A format with ``read_partitions`` decodes each file once and checks each partition's
    records as it goes, so one partition's tables are in memory at a time; any other format
    (``sdtm``) is read whole once and ``parts.select_partition`` cuts it. ``partitions``
    (internal, for ``ingest_study``): one explicit ``(index, count)`` instead, or ``None`` and
    no ``count`` for the whole study as one result. ``text_as_categories``: a format with
    ``read_partitions`` keeps the large tables' text columns as categoricals, so that the job
    writes them from the codes (``io.write_study_tables``: the files read back as text)."""
    if partitions is None and count is not None:
        partitions = [(k, count) for k in range(count)]
    key = load_key(key_file)
    fingerprint = key_fingerprint(key)
    if fingerprint != expected_fingerprint:
        raise ValueError(
            f"the pseudonymization key changed while the workflow ran (fingerprint "
            f"{fingerprint}, expected {expected_fingerprint}); rerun the workflow"
        )
    # checksums before reading: what the results are built from
    sha256 = {str(path): file_sha256(path) for path in files.values()}
    for role, path in files.items():
        expected = expected_sha256.get(role)
        if expected is not None and expected != sha256[str(path)]:
            raise ValueError(
                f"study {study}, file {role} ({path}) changed while the workflow ran; rerun the workflow"
            )
    module = FORMATS[format_name]
    # only formats with an Options class (sdtm) take options; the schema documents each key
    if options and not hasattr(module, "Options"):
        raise ValueError(f"config: study {study!r}: format {format_name} takes no options")
    kwargs = {"options": dict(options)} if options else {}
    with use_resources(resources or {}):  # the rule's inputs, not the package's own copy
        results = _read_partitions(module, study, files, key, kwargs, partitions, text_as_categories)
        for result in results:
            report = result.report.assign(
                sha256=result.report["file"].map(sha256), key_fingerprint=fingerprint
            )
            problems = count_soft_problems(study, result.warnings)
            yield IngestedStudy(result, report, problems, fingerprint)


def _read_partitions(module, study, files, key, kwargs, partitions, text_as_categories=False) -> Iterator:
    """The adapter's result for each of ``partitions`` (None: one result, the whole study)."""
    if partitions is None:
        yield module.read(study, files, key, **kwargs)
        return
    count = partitions[0][1]
    if len(partitions) == count and hasattr(module, "read_partitions") and not kwargs:
        coded = {"text_as_categories": True} if text_as_categories else {}
        yield from module.read_partitions(study, files, key, count, **coded)
    elif len(partitions) == 1 and reader_selects_partition(module):
        yield module.read(study, files, key, partition=partitions[0], **kwargs)
    else:
        whole = module.read(study, files, key, **kwargs)
        for index, count in partitions:
            yield select_partition(whole, index, count)
