"""Drives Debian's Chromium (headless, Playwright for Python) through the
example app: log in through the form, see the user, post a note, post again
after the access token expired (the page refreshes through the refresh
cookie), open the page with an expired access cookie, log out. After every
step the page's `document.cookie` must not show the access or refresh
cookie.

Usage: chromium.py APP_ORIGIN EMAIL PASSWORD ACCESS_TTL_SECONDS
Run by tests/browser/chromium.rs (`cargo test`), which starts Signet and the
app. Exit code 0 when every check held.
"""

import os
import sys
import tempfile
import time

from playwright.sync_api import expect, sync_playwright

APP, EMAIL, PASSWORD, TTL = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
CHROMIUM = os.environ.get("SIGNET_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN_COOKIES = ("__Host-signet_at", "__Secure-signet_rt")


def step(name):
    print(f"-- {name}", flush=True)


def scripts_see_no_tokens(page):
    visible = page.evaluate("document.cookie")
    for name in TOKEN_COOKIES:
        assert name not in visible, f"{name} is readable by scripts: {visible!r}"
    return visible


def jar(context):
    return {c["name"]: c for c in context.cookies()}


def main():
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS
        )
        page = context.pages[0] if context.pages else context.new_page()
        expect.set_options(timeout=15_000)

        step("the login form")
        page.goto(APP + "/")
        expect(page.locator("#login")).to_be_visible()
        scripts_see_no_tokens(page)

        step("log in (remember me)")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.check("input[name=remember]")
        page.click("#login button")
        expect(page.locator("#user")).to_have_text(EMAIL)
        visible = scripts_see_no_tokens(page)
        assert "__Host-signet_csrf=" in visible, f"the CSRF cookie is for scripts: {visible!r}"
        cookies = jar(context)
        access, refresh = cookies["__Host-signet_at"], cookies["__Secure-signet_rt"]
        assert access["httpOnly"] and access["secure"] and access["path"] == "/", access
        assert access["sameSite"] == "Lax", access
        assert refresh["httpOnly"] and refresh["path"] == "/v1/browser", refresh
        assert refresh["sameSite"] == "Strict", refresh
        assert not cookies["__Host-signet_csrf"]["httpOnly"]
        first_token = access["value"]

        step("post a form with the CSRF token")
        page.fill("input[name=note]", "first note")
        page.click("#add")
        expect(page.locator("li.note")).to_have_count(1)
        scripts_see_no_tokens(page)

        step("post again after the access token expired: refresh, retry")
        time.sleep(TTL + 1.5)
        assert "__Host-signet_at" not in jar(context), "the access cookie outlived its token"
        page.fill("input[name=note]", "after a refresh")
        page.click("#add")
        expect(page.locator("li.note")).to_have_count(2)
        expect(page.locator("#user")).to_have_text(EMAIL)
        assert jar(context)["__Host-signet_at"]["value"] != first_token, "a new access token"
        scripts_see_no_tokens(page)

        step("open the page with an expired access cookie")
        time.sleep(TTL + 1.5)
        page.goto(APP + "/")
        expect(page.locator("#user")).to_have_text(EMAIL)
        expect(page.locator("li.note")).to_have_count(2)
        scripts_see_no_tokens(page)

        step("log out")
        page.click("#logout")
        expect(page.locator("#login")).to_be_visible()
        left = [name for name in jar(context) if "signet" in name]
        assert not left, f"cookies left after logout: {left}"
        scripts_see_no_tokens(page)
        context.close()
    print("browser flow passed", flush=True)


if __name__ == "__main__":
    main()
