"""The insights dashboard in a real browser: charts drawn, tables beside them, no console errors."""

from __future__ import annotations

import pytest

from tests.conftest import AsgiServer, sign_in
from tests.insights.conftest import seed

pytestmark = [pytest.mark.browser]


@pytest.fixture
def insights_server(transactional_db):
    """Daphne on the test database, with the fake embedder (no model loads) and default privacy settings."""
    server = AsgiServer(
        HUMPHREY_EMBEDDINGS_PROVIDER="fake",
        HUMPHREY_INSIGHTS_SHOW_QUESTIONS="0",
        HUMPHREY_INSIGHTS_MIN_ASKERS="5",
    )
    yield server
    server.stop()


def test_dashboard_renders_charts_and_tables(insights_server, page, make_user, insights_settings):
    """A curator opens the dashboard from the menu, sees five charts with tables and a gap topic, and changes period."""
    seed(make_user)
    # The first dashboard a server draws imports scikit-learn: slow on a busy two-core machine.
    page.set_default_timeout(45_000)
    sign_in(page, insights_server.url, "cara@example.gov.uk")
    page.click("a.govuk-header__link:text('Insights')")
    page.wait_for_url("**/insights/")
    page.click("text=HR policies")
    page.wait_for_url("**/insights/hr/")
    assert page.locator("h1").inner_text() == "HR policies"
    charts = page.locator("svg.app-chart__svg")
    assert charts.count() == 5
    for i in range(5):
        chart = charts.nth(i)
        assert chart.is_visible()
        assert chart.bounding_box()["width"] > 100
        assert chart.locator("rect.app-chart__bar").count() > 0
    # Bars are coloured by the stylesheet (a class), not left black by a blocked inline style.
    fill = page.locator("rect.app-chart__bar--answered").first.evaluate("el => getComputedStyle(el).fill")
    assert fill == "rgb(0, 112, 60)"  # GOV.UK green, #00703c
    assert page.locator("table caption").count() == 11
    assert page.locator("#table-questions tbody tr").count() == 30
    topic = page.locator("#table-topics tbody tr").first
    assert "parental" in topic.inner_text()
    assert "Shared parental leave guidance" in topic.inner_text()
    page.select_option("select[name=period]", "7")
    page.click("button:text('Show')")
    page.wait_for_url("**/insights/hr/?period=7")
    assert page.locator("#table-questions tbody tr").count() == 7
    assert page.console_errors == []
