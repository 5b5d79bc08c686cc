"""A model with classes on the page, in a real browser (fixtures from test_web): choosing another
class keeps the result but marks it stale ("Class changed"), and choosing the class it was
computed with makes it current again, with the edit shown as it was."""

from __future__ import annotations

import pytest

pytest.importorskip("flask")

from lowrankgan.web.session import Workspace  # noqa: E402
from test_web import browser, live_server, open_page  # noqa: E402,F401  (fixtures)
from test_web_page import draw_box  # noqa: E402

CURRENT = "window.lrg.state.result && !window.lrg.state.stale && window.lrg.idle()"


@pytest.fixture(scope="module")
def workspace():
    workspace = Workspace(["omniart-eyes"], device="cpu")
    yield workspace
    # Wait for the background warm-up: a process that exits while a thread is inside torch aborts.
    workspace.close(timeout=300.0)


@pytest.mark.slow
def test_another_class_keeps_the_result_stale_until_the_class_comes_back(browser, live_server):
    context, page, errors = open_page(browser, live_server + "/")
    classes = page.evaluate("[...document.getElementById('class').options].map(o => o.value)")
    first = page.input_value("#class")
    other = next(c for c in classes if c != first)
    assert page.is_visible("#class") and len(classes) > 1
    size = page.evaluate("window.lrg.state.info.resolution")
    draw_box(page, size // 3, size // 4, size // 2, 3 * size // 4, size)
    page.fill("#top-k", "2")
    page.dispatch_event("#top-k", "input")
    page.fill("#path-steps", "0")  # the straight line: this test is about state, not paths
    page.dispatch_event("#path-steps", "input")
    page.click("#compute")
    page.wait_for_function(CURRENT, timeout=300_000)
    result = page.evaluate("window.lrg.state.result.id")

    page.fill("#slider-0", "0.8")
    page.dispatch_event("#slider-0", "input")
    page.wait_for_function("window.lrg.idle() && window.lrg.state.shownAlphas !== ''")
    shown = page.evaluate("window.lrg.state.shownAlphas")

    page.select_option("#class", other)
    page.wait_for_function("window.lrg.state.stale && window.lrg.idle()")
    assert "Class" in page.text_content("#stale") and page.is_visible("#stale")
    assert page.is_disabled("#slider-0")
    assert page.evaluate("window.lrg.state.result.id") == result  # kept, not thrown away

    page.select_option("#class", first)
    page.wait_for_function(CURRENT)
    assert not page.is_visible("#stale") and not page.is_disabled("#slider-0")
    assert page.evaluate("window.lrg.state.result.id") == result
    page.wait_for_function("window.lrg.idle() && window.lrg.state.shownAlphas !== ''")
    assert page.evaluate("window.lrg.state.shownAlphas") == shown  # the edit comes back with the result
    assert not errors, errors
    context.close()
