"""Issue 8, finding 7 through the workflow: an identifier in a swapped column stops ingest with
a message that withholds it, and no raw identifier reaches the console, the rule log or
Snakemake's own log."""

import re

import pytest
import yaml

from ketamine_bzd.formats import FORMATS
from ketamine_bzd.synthetic import generate_cohort

from workflow_helpers import copy_workflow, snakemake

pytestmark = [pytest.mark.slow, pytest.mark.integration]
FORMAT_OF = {"ket2009": "spss_wide", "ket2013": "ecrf_cz"}


def test_swapped_id_column_is_withheld_everywhere(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    truth = generate_cohort(47, 20200819)
    exports = {s: FORMATS[f].write(truth[s], tmp_path / "exports" / s) for s, f in FORMAT_OF.items()}
    raw_ids = {str(i) for s in FORMAT_OF for i in truth[s].subjects["patient_id"]}
    # the score column of the first rating holds that patient's ID (a column swap in the eCRF)
    path = exports["ket2013"]["ratings"]
    lines = path.read_bytes().decode("cp1250").split("\r\n")
    fields = lines[1].split(";")
    fields[-1] = fields[0]
    lines[1] = ";".join(fields)
    path.write_bytes("\r\n".join(lines).encode("cp1250"))

    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["synthetic"]["enabled"] = False
    config["studies"] = {
        s: {"format": FORMAT_OF[s], "files": {r: str(p) for r, p in exports[s].items()}} for s in FORMAT_OF
    }
    (workdir / "mine.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(
        workdir, "results/ingest/ket2013/part-0/subjects.parquet", "--configfile", "mine.yaml", check=False
    )
    assert proc.returncode != 0
    line = next(s for s in proc.stderr.splitlines() if s.startswith("ERROR in rule ingest"))
    assert "hodnoceni.csv, row 1, column 'Celkové skóre', value withheld (looks like an identifier)" in line
    texts = {
        "console": proc.stdout + proc.stderr,
        "rule log": (workdir / "results/logs/ingest/ket2013.log").read_text(),
    }
    texts.update({str(p): p.read_text() for p in (workdir / ".snakemake/log").glob("*.log")})
    assert len(texts) >= 3
    for where, text in texts.items():
        text = text.replace(str(tmp_path), "")  # paths are the user's own
        leaked = {i for i in raw_ids if re.search(rf"(?<![0-9A-Za-z-]){re.escape(i)}(?![0-9A-Za-z-])", text)}
        assert not leaked, (where, sorted(leaked)[:3])
