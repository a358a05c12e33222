"""Headless Debian Chromium for the device page and its modules, shared by the browser benchmarks
and tests: where the browser is, its flags, and the page's JS modules served without a server."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_DIR = Path(__file__).resolve().parents[1] / "client" / "browser"
# A made-up origin the modules are served from by request interception: no server, no network.
MODULES_ORIGIN = "http://device.invalid"

# Chromium on a machine without outside network: no background connections, no sandbox (root).
OFFLINE_ARGS = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# WebGL2 on SwiftShader.
GL_ARGS = [*OFFLINE_ARGS, "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
# A page that needs no WebGL (the live preview): no GPU at all.
PLAIN_ARGS = [*OFFLINE_ARGS, "--disable-gpu"]
# The device page: WebGL2 on SwiftShader, a fake camera granted without asking, no throttling of a
# page that is not in front.
PAGE_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]


def page_args(y4m: Path | str | None) -> list[str]:
    """PAGE_ARGS, with the camera playing `y4m` (None: Chromium's own test pattern)."""
    camera = [f"--use-file-for-fake-video-capture={y4m}"] if y4m else []
    return [*camera, *PAGE_ARGS]


def serve_modules(page, title: str) -> None:
    """Opens a blank page at MODULES_ORIGIN whose `import('/name.js')` loads client/browser/name.js."""

    def serve(route):
        name = route.request.url.removeprefix(MODULES_ORIGIN + "/") or "blank.html"
        path = BROWSER_DIR / name
        if name == "blank.html":
            route.fulfill(status=200, content_type="text/html", body=f"<!doctype html><title>{title}</title>")
        elif path.parent == BROWSER_DIR and path.suffix == ".js" and path.is_file():
            route.fulfill(status=200, content_type="text/javascript", body=path.read_text())
        else:
            route.fulfill(status=404, body="")

    page.route(MODULES_ORIGIN + "/**", serve)
    page.goto(MODULES_ORIGIN + "/blank.html")
