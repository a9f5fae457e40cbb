"""The site in a real browser: sign in, GOV.UK look, no console errors, CSP honoured."""

import pytest

from tests.conftest import sign_in

pytestmark = [pytest.mark.browser]


def test_sign_in_in_browser(asgi_server, page, make_user):
    """A civil servant signs in and sees the GOV.UK-styled start page with skip link and phase banner."""
    make_user("casey@example.gov.uk")
    sign_in(page, asgi_server.url, "casey@example.gov.uk")
    assert page.url.rstrip("/") == asgi_server.url
    assert page.locator(".govuk-header__service-name").inner_text() == "Humphrey"
    assert page.locator(".govuk-phase-banner").is_visible()
    assert page.locator("a.govuk-skip-link").count() == 1
    # GOV.UK Frontend's JavaScript ran (its init script is a file, allowed by the CSP).
    assert "govuk-frontend-supported" in page.locator("body").get_attribute("class")
    assert page.console_errors == []
    page.click("text=Sign out")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/login/")
