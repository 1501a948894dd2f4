"""The heterogeneity analysis on a cohort and its forest plot (ketamine_bzd.heterogeneity)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from ketamine_bzd import figures as f
from ketamine_bzd import heterogeneity as h
from ketamine_bzd.analysis import AnalysisSettings

DATA = Path(__file__).parent / "reference" / "data"


def _result(frame: pd.DataFrame) -> dict:
    return h.study_heterogeneity(frame, AnalysisSettings())


def test_result_is_strict_json_and_names_the_settings():
    res = _result(pd.read_csv(DATA / "three_studies.csv"))
    json.dumps(res, allow_nan=False)
    assert res["bzd_cutoff_mg"] == 8.0 and res["covariates"] == ["madrs_day0", "bai_day0"]
    assert res["n_studies"] == res["n_studies_pooled"] == 3


def test_forest_is_byte_reproducible_and_labelled(tmp_path):
    res = _result(pd.read_csv(DATA / "synthetic_default_n47_study.csv"))
    ds = "synthetic (seed 1, n=47; not patient data)"
    digests = []
    for run in ("a", "b"):
        paths = f.save(h.forest_figure(res, ds), tmp_path / run / "forest", 72)
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in paths])
    assert digests[0] == digests[1]
    fig = h.forest_figure(res, ds)
    texts = [t.get_text() for t in fig.texts] + [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "SYNTHETIC DATA" in texts
    assert any("Firth" in t for t in texts) and any("HK ad hoc" in t for t in texts)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    # y ticks bottom-up: the one-stage row at the bottom, the first study at the top
    assert labels[0] == "one stage, study fixed effect" and labels[-1].startswith("ket2009")


def test_one_study_gives_a_note_and_a_figure_not_a_crash(tmp_path):
    frame = pd.read_csv(DATA / "paper_shaped.csv")
    res = _result(frame[frame["study"] == "A"])
    assert res["pooled"]["estimable"] is False
    fig = h.forest_figure(res, "study exports")
    assert "pooling skipped" in fig.axes[0].get_title()
    assert all(p.stat().st_size > 1000 for p in f.save(fig, tmp_path / "forest", 72))


def test_a_pooling_method_that_fails_is_reported_not_raised(monkeypatch, tmp_path):
    from ketamine_bzd.stats import meta

    def no_maximum(yi, vi):
        raise ArithmeticError(
            "REML tau^2: the restricted likelihood still increases at the end of the search"
        )

    monkeypatch.setattr(meta, "tau2_reml", no_maximum)
    res = _result(pd.read_csv(DATA / "three_studies.csv"))
    assert res["pooled"]["reml"]["estimable"] is False and res["pooled"]["dl"]["estimable"] is True
    assert any(w.startswith("REML: not estimated") for w in res["warnings"])
    json.dumps(res, allow_nan=False)
    fig = h.forest_figure(res, "study exports")
    assert "not estimable" in [t.get_text() for t in fig.axes[0].texts]
    assert all(p.stat().st_size > 1000 for p in f.save(fig, tmp_path / "forest", 72))
