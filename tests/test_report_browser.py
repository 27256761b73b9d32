"""The report page in Debian's headless Chromium (Playwright, never a downloaded browser): every chart loads
and shows, from the HTML file alone."""

from __future__ import annotations

import shutil

import pytest
from test_report_html import EMPTY_DAY, NORMAL_DAY, PNG_SIGNATURE, SHORT_DAY, build_day, lake_path

from energy_datalake import report


# About 10 s (the charts, then Chromium): more than the fast tests' budget.
@pytest.mark.slow
def test_every_chart_of_the_page_loads_and_shows(datalake_home, tmp_path, browser):
    # Fails if an image's data does not decode in a browser (naturalWidth 0), if a chart is hidden, or if
    # the page needs anything beside its own file (it is opened from a folder holding nothing else).
    build_day(lake_path(), SHORT_DAY)
    build_day(lake_path(), NORMAL_DAY, scale=2)
    written = report.write_report(EMPTY_DAY, NORMAL_DAY, tmp_path / "written")
    alone = tmp_path / "alone" / "report.html"
    alone.parent.mkdir()
    shutil.copy(written, alone)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(alone.as_uri())
    page.wait_for_load_state("load")
    charts = page.locator("img[data-chart]")
    names = charts.evaluate_all("images => images.map(i => i.dataset.chart)")
    assert len(names) == 13, names  # six per day with data, and the range
    for name in names:
        image = page.locator(f'img[data-chart="{name}"]')
        image.scroll_into_view_if_needed()
        assert image.is_visible(), name
        natural = image.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]")
        assert natural[0] and natural[1] > 0 and natural[2] > 0, (name, natural)
        assert image.bounding_box()["width"] > 300, name
    assert page.locator(f"#day-{EMPTY_DAY}").inner_text().count(f"No data for {EMPTY_DAY}.") == 1

    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)
    assert screenshot.stat().st_size > 50_000
