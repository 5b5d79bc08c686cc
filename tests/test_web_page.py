"""The page as a new user meets it, in a real browser (fixtures from test_web): undo acts on the
drawing whatever has the focus, a result is current exactly when the inputs equal what it was
computed from, messages go with the state that made them, and at narrow widths what matters stays
in view (checked by bounding boxes, not by presence)."""

from __future__ import annotations


import pytest

pytest.importorskip("flask")

from lowrankgan.web.session import Workspace  # noqa: E402
from test_web import browser, live_server, open_page  # noqa: E402,F401  (fixtures)

SEED = 12
MASK_JS = "Array.from(window.lrg.state.mask).join('')"
CURRENT = "window.lrg.state.result && !window.lrg.state.stale && window.lrg.idle()"


@pytest.fixture(scope="module")
def workspace():
    workspace = Workspace(["dcgan-faces"], device="cpu")
    yield workspace
    workspace.close(timeout=120.0)  # no path walk or warm-up outlives the module (they write the Jacobian cache)


def choose_seed(page, seed: int) -> None:
    page.fill("#seed", str(seed))
    page.press("#seed", "Enter")
    page.dispatch_event("#seed", "change")
    page.wait_for_function(f"window.lrg.idle() && window.lrg.state.facePresetSeed === {seed}")


def draw_box(page, top: int, left: int, bottom: int, right: int, size: int = 64) -> None:
    """A rectangle from (top, left) to (bottom, right) in the model's pixels (``size`` a side)."""
    box = page.locator("#overlay").bounding_box()
    cell = box["width"] / size
    page.click("#tool-rect")
    page.mouse.move(box["x"] + (left + 0.5) * cell, box["y"] + (top + 0.5) * cell)
    page.mouse.down()
    page.mouse.move(box["x"] + (right + 0.5) * cell, box["y"] + (bottom + 0.5) * cell, steps=3)
    page.mouse.up()


def compute(page) -> None:
    page.click("#compute")
    page.wait_for_function(CURRENT, timeout=300_000)


def first_face_preset(page) -> str:
    return page.evaluate("[...document.getElementById('preset').options].map(o => o.value)"
                         ".find(v => v.startsWith('face:'))")


@pytest.mark.slow
def test_undo_is_the_drawings_and_stale_follows_the_inputs(browser, live_server):
    context, page, errors = open_page(browser, live_server + "/")
    choose_seed(page, 20)
    choose_seed(page, SEED)  # the Seed box has an edit history the browser could undo
    empty = page.evaluate(MASK_JS)
    page.select_option("#preset", first_face_preset(page))
    assert page.evaluate(MASK_JS) != empty
    page.focus("#preset")
    page.keyboard.press("Control+z")  # the menu has the focus: the drawing's undo, not the Seed box's
    assert page.input_value("#seed") == str(SEED) and page.evaluate(MASK_JS) == empty
    assert page.evaluate("document.activeElement.id") == "preset"
    page.keyboard.press("Control+Shift+z")
    assert page.evaluate(MASK_JS) != empty and page.input_value("#seed") == str(SEED)
    page.focus("#method")
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+y")
    assert page.evaluate(MASK_JS) != empty and page.input_value("#seed") == str(SEED)

    # Inside a text field Ctrl+Z is the field's own: the drawing stays.
    region = page.evaluate(MASK_JS)
    page.fill("#top-k", "4")
    page.focus("#top-k")
    page.keyboard.press("Control+z")
    assert page.evaluate(MASK_JS) == region
    page.fill("#top-k", "5")
    page.dispatch_event("#top-k", "input")
    compute(page)

    # Each input changed and put back: stale, then current again.
    def changed(label: str) -> None:
        page.wait_for_function("window.lrg.state.stale")
        assert label in page.text_content("#stale") and page.is_disabled("#slider-0"), label

    def current() -> None:
        page.wait_for_function(CURRENT)
        assert not page.is_visible("#stale") and not page.is_disabled("#slider-0")

    page.click("#seed-next")
    changed("Seed")
    page.click("#seed-prev")
    current()
    page.select_option("#method", "resefa")
    changed("Method")
    page.select_option("#method", "lowrankgan")
    current()
    for value in ("3", "5"):
        page.fill("#top-k", value)
        page.dispatch_event("#top-k", "input")
    current()
    page.fill("#top-k", "3")
    page.dispatch_event("#top-k", "input")
    changed("Top k")
    draw_box(page, 55, 5, 58, 12)
    changed("Region")
    assert "Top k" in page.text_content("#stale")
    page.keyboard.press("Control+z")
    changed("Top k")
    page.fill("#top-k", "5")
    page.dispatch_event("#top-k", "input")
    current()

    # A result shown on the slid image: the edit comes back with it.
    page.fill("#slider-0", "0.8")
    page.dispatch_event("#slider-0", "input")
    page.wait_for_function("window.lrg.idle() && window.lrg.state.shownAlphas !== ''")
    shown = page.evaluate("window.lrg.state.shownAlphas")
    page.click("#seed-next")
    changed("Seed")
    page.click("#seed-prev")
    current()
    assert page.evaluate("window.lrg.state.shownAlphas") == shown
    assert not errors, errors
    context.close()


@pytest.mark.slow
def test_messages_go_with_the_state_that_made_them(browser, live_server):
    context, page, errors = open_page(browser, live_server + "/")
    choose_seed(page, SEED)
    page.click("#compute")  # no region: the server says so
    page.wait_for_selector("#progress.error", timeout=60_000)
    assert "region" in page.text_content("#progress-stage")
    choose_seed(page, SEED + 1)
    assert not page.is_visible("#progress")
    page.click("#compute")
    page.wait_for_selector("#progress.error", timeout=60_000)
    draw_box(page, 30, 30, 34, 34)
    assert not page.is_visible("#progress")

    # A line for one image goes when the image changes; the model's line stays.
    page.evaluate("message('editing your photo', false, 'image')")
    page.click("#seed-next")
    page.wait_for_function("document.getElementById('message').textContent === ''")
    page.evaluate("message('some error', true)")
    page.fill("#top-k", "4")
    page.dispatch_event("#top-k", "input")
    assert page.text_content("#message") == ""
    errors = [e for e in errors if "400 (BAD REQUEST)" not in e]  # the empty region's answers
    assert not errors, errors
    context.close()


def box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def in_view(b: dict, height: int) -> bool:
    return b is not None and b["y"] >= 0 and b["y"] + b["height"] <= height


@pytest.mark.slow
@pytest.mark.parametrize("width,height", [(800, 900), (360, 740)])
def test_narrow_layouts_keep_the_note_and_the_active_slider_in_view(browser, live_server, tmp_path, width, height):
    context, page, errors = open_page(browser, live_server + "/", width=width, height=height)
    choose_seed(page, SEED)
    page.select_option("#preset", "eyes")
    compute(page)
    page.evaluate("window.scrollTo(0, 0)")
    sliders = page.locator("#sliders input[type=range]").count()
    for i in range(sliders):
        # Scroll the slider up under the image, then give it the focus (as Tab does).
        page.evaluate(f"window.scrollTo(0, document.getElementById('slider-{i}').getBoundingClientRect().top"
                      " + window.scrollY - 40)")
        page.focus(f"#slider-{i}")
        page.wait_for_timeout(100)
        stage, slider = box(page, "#stage"), box(page, f"#slider-{i}")
        assert slider["y"] >= stage["y"] + stage["height"] and in_view(slider, height), (i, stage, slider)
    page.select_option("#method", "resefa")  # stale: the note must stay in view
    page.wait_for_function("window.lrg.state.stale")
    for y in range(0, page.evaluate("document.body.scrollHeight"), height // 3):  # anywhere on the page
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_timeout(30)
        assert in_view(box(page, "#stale"), height), y
        assert box(page, "#canvas-wrap")["width"] >= 0.2 * height, y  # the image shrinks, and stays
    page.screenshot(path=str(tmp_path / f"narrow-{width}.png"))
    assert not errors, errors
    context.close()


@pytest.mark.slow
@pytest.mark.parametrize("width,height", [(1400, 900), (800, 900), (360, 740)])
def test_fields_keep_their_width_when_they_show_an_error(browser, live_server, width, height):
    context, page, errors = open_page(browser, live_server + "/", width=width, height=height)
    widths = {sel: box(page, sel)["width"] for sel in ("#seed", "#top-k", "#path-steps")}
    for sel, bad in (("#seed", "-3"), ("#top-k", "50"), ("#path-steps", "99")):
        page.fill(sel, bad)
        page.dispatch_event(sel, "input")
        assert page.is_visible(f"#error-{sel[1:]}")
        assert box(page, sel)["width"] >= 0.9 * widths[sel], (sel, widths[sel], box(page, sel))
    assert not errors, errors
    context.close()
