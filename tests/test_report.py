"""The HTML report (issue 5): built by Snakemake, opened in headless Chromium, figures render."""

import os
import shutil

import pytest

from workflow_helpers import snakemake

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def report(default_run):
    snakemake(default_run, "--report", "results/report.html")
    return default_run / "results/report.html"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium not installed: apt-get install chromium")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_report_mentions_the_synthetic_data(report):
    html = report.read_text(errors="replace")
    assert "SYNTHETIC" in html


def test_report_loads_without_errors_and_every_figure_renders(report, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url[:80]}"))
    categories = ["1. Data quality", "2. Cohort", "3. Analysis", "4. Sensitivity"]
    rendered = []
    for category in categories:
        _open(page, report, category)
        subcategories = _listing(page)
        if page.locator("tr").count():  # files listed directly
            rendered += _view_figures(page, tmp_path, category)
            continue
        assert subcategories, category
        for sub in subcategories:
            _open(page, report, category, sub)
            rendered += _view_figures(page, tmp_path, f"{category}-{sub}")
    assert not errors, errors
    names = {r.rsplit("/", 1)[-1] for r in rendered}
    assert {"figure1_roc.png", "figure2_madrs_course.png", "dose_response.png"} <= names
    assert {"specification_curve.png", "forest_one_at_a_time.png"} <= names
    print(f"report: {len(rendered)} figures rendered; screenshots in {tmp_path}")


def _open(page, report, *path):
    page.goto(report.as_uri())
    page.wait_for_selector("text=RESULTS")
    for label in path:
        page.get_by_text(label, exact=True).first.click()


def _listing(page):
    """Entries listed after the breadcrumb (subcategory names when no file table is shown)."""
    lines = [t.strip() for t in page.inner_text("body").split("\n")]
    out = []
    for t in lines[lines.index("Results") + 2 :]:
        if not t or t.startswith("ketamine-bzd"):
            break
        out.append(t)
    return out


def _view_figures(page, tmp_path, label):
    """Open every PNG of the current listing with its eye button; check that it decoded."""
    seen = []
    rows = page.locator("tr", has_text=".png")
    for i in range(rows.count()):
        row = rows.nth(i)
        name = row.locator("td").first.inner_text().strip()
        row.locator("a[iconname=eye]").click()
        img = page.locator("img[src^='data:image/png']").first
        img.wait_for(timeout=10_000)
        page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
        assert img.evaluate("i => i.naturalWidth") > 300, name
        shot = tmp_path / f"{label}-{i}.png".replace(" ", "_")
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        seen.append(name)
    return seen
