"""The chat page in headless Chromium, served by the real backend in front of the fake Ollama.

What a person on the page sees: a reply that grows while it streams, a conversation that
survives a second turn and a reload, a plain-spoken error when Ollama fails or the service is
full, a Stop button that really stops the upstream generation, and a layout that fits a phone.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright's Python API; no
browser is ever downloaded. Without /usr/bin/chromium these tests skip.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llmservice_backend.app import create_app
from llmservice_backend.settings import Settings
from llmservice_backend.testing.fake_ollama import FakeOllama, Faults
from llmservice_backend.testing.llama_adapter import serve_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MODEL = "tinyllama"
API_KEY = "page-test-key-0123456789"
PHONE = {"width": 375, "height": 667}
# Set to a folder to keep the phone screenshot for a human to look at.
SCREENSHOT_DIR = os.environ.get("LLMSERVICE_PAGE_SCREENSHOTS")

if not CHROMIUM.is_file():
    pytest.skip(
        "Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )
playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


# ---- servers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=(MODEL,)) as server:
        yield server


@pytest.fixture(autouse=True)
def _calm_fake(fake: FakeOllama) -> None:
    """Every test starts from a well-behaved fake that streams at a visible pace."""
    fake.faults = Faults()
    fake.token_rate = 40
    fake.reply_text = None
    fake.reply_tokens = None


def _serve_backend(fake: FakeOllama, **overrides: Any) -> Iterator[str]:
    settings = Settings(ollama_url=fake.url, model_name=MODEL, **overrides)
    with serve_in_thread(create_app(settings, manage_model=False)) as url:
        yield url


@pytest.fixture(scope="module")
def backend(fake: FakeOllama) -> Iterator[str]:
    # One slot and no queue, so a single held stream makes the next chat a 429.
    yield from _serve_backend(fake, max_concurrent_requests=1, max_queued_requests=0)


@pytest.fixture(scope="module")
def keyed_backend(fake: FakeOllama) -> Iterator[str]:
    yield from _serve_backend(fake, api_key=API_KEY)


# ---- browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser_context(playwright: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": 1024, "height": 768},
    )
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A fresh tab: sessionStorage (history, API key) is per tab, so tests do not share it."""
    tab = browser_context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    tab.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def _send(page: Any, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.get_by_role("button", name="Send").click()


def _wait_idle(page: Any) -> None:
    page.get_by_role("button", name="Send").wait_for(state="visible")
    page.wait_for_function("() => !document.querySelector('.msg.streaming')")


def _bubbles(page: Any) -> list[tuple[str, str]]:
    rows = page.eval_on_selector_all(
        ".msg",
        "els => els.map(e => [e.classList.contains('user') ? 'user' : 'assistant',"
        " e.querySelector('.text').textContent])",
    )
    return [(role, text) for role, text in rows]


def _history(page: Any) -> list[dict[str, str]]:
    stored = page.evaluate("() => JSON.parse(sessionStorage.getItem('llmservice.chat.history.v1'))")
    return list(stored or [])


# ---- tests ----------------------------------------------------------------------------------


def test_page_is_served_with_its_assets_and_shows_the_model(backend: str, page: Any) -> None:
    page.goto(backend)
    assert page.title() == "Chat"
    page.wait_for_function("() => document.querySelector('#model-name').textContent.includes(':')")
    page.get_by_text(f"model: {MODEL}").wait_for()
    for asset in ("/static/app.js", "/static/app.css"):
        assert httpx.get(backend + asset, timeout=10).status_code == 200


def test_reply_streams_into_the_page(backend: str, fake: FakeOllama, page: Any) -> None:
    fake.token_rate = 8  # slow enough to watch the reply grow
    page.goto(backend)
    _send(page, "Hello from the page test")
    # Part of the reply is on screen while the stream is still open...
    page.wait_for_function(
        "() => { const m = document.querySelector('.msg.assistant.streaming .text');"
        " return m && m.textContent.length > 0; }"
    )
    assert page.get_by_role("button", name="Stop").is_visible()
    assert page.locator("#messages").get_attribute("aria-busy") == "true"
    # ...and the whole of it once the stream ends.
    _wait_idle(page)
    assert _bubbles(page) == [
        ("user", "Hello from the page test"),
        ("assistant", "You said: Hello from the page test"),
    ]
    assert page.locator("#messages").get_attribute("aria-live") == "polite"
    assert fake.chats[-1].outcome == "completed"
    assert fake.chats[-1].stream is True


def test_conversation_is_kept_across_turns_and_reloads(
    backend: str, fake: FakeOllama, page: Any
) -> None:
    page.goto(backend)
    _send(page, "first question")
    _wait_idle(page)
    page.get_by_label("Your message").fill("second question")
    page.keyboard.press("Enter")
    _wait_idle(page)

    # The second request carried the whole conversation.
    sent = fake.chats[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "first question"),
        ("assistant", "You said: first question"),
        ("user", "second question"),
    ]
    expected = [
        ("user", "first question"),
        ("assistant", "You said: first question"),
        ("user", "second question"),
        ("assistant", "You said: second question"),
    ]
    assert _bubbles(page) == expected

    page.reload()
    page.locator(".msg").nth(3).wait_for()
    assert _bubbles(page) == expected

    page.get_by_role("button", name="New chat").click()
    assert _bubbles(page) == []
    assert _history(page) == []


def test_upstream_failure_is_shown_with_the_servers_reason(
    backend: str, fake: FakeOllama, page: Any
) -> None:
    fake.faults.status = 500
    page.goto(backend)
    _send(page, "this will fail")
    alert = page.get_by_role("alert")
    alert.wait_for()
    text = alert.inner_text()
    assert "HTTP 502" in text
    assert fake.faults.status_error in text
    # The failed turn is not kept, and the text is back in the box to try again.
    assert _history(page) == []
    assert page.get_by_label("Your message").input_value() == "this will fail"

    fake.faults = Faults()
    page.get_by_role("button", name="Send").click()
    _wait_idle(page)
    assert page.get_by_role("alert").is_hidden()
    assert _bubbles(page) == [("user", "this will fail"), ("assistant", "You said: this will fail")]


def test_error_in_mid_stream_is_shown(backend: str, fake: FakeOllama, page: Any) -> None:
    fake.faults.error_after_tokens = 2
    page.goto(backend)
    _send(page, "one two three four five")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "The model stopped with an error" in alert.inner_text()
    assert fake.faults.error_message in alert.inner_text()
    assert page.locator(".msg.assistant.failed").count() == 1
    assert _history(page) == []


def test_a_full_service_answers_429_and_the_page_says_when_to_retry(
    backend: str, fake: FakeOllama, page: Any
) -> None:
    # Hold the backend's only slot with a stream that stalls after its first token.
    fake.faults.stall_after_tokens = 1
    started = threading.Event()
    release = threading.Event()

    def hold() -> None:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hold"}]}
        with (
            httpx.Client(base_url=backend, timeout=30) as http,
            http.stream("POST", "/api/chat", json=body) as held,
        ):
            for _ in held.iter_lines():
                started.set()
                release.wait(30)
                return

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert started.wait(15), "the holding stream never started"
    try:
        page.goto(backend)
        _send(page, "are you busy?")
        alert = page.get_by_role("alert")
        alert.wait_for()
        text = alert.inner_text()
        assert "busy" in text
        assert "HTTP 429" in text
        assert "try again in" in text
    finally:
        release.set()
        holder.join(15)


def test_stop_button_ends_the_stream_and_the_upstream_generation(
    backend: str, fake: FakeOllama, page: Any
) -> None:
    fake.token_rate = 4
    fake.reply_tokens = 200
    page.goto(backend)
    _send(page, "talk for a long time")
    page.wait_for_function(
        "() => { const m = document.querySelector('.msg.assistant.streaming .text');"
        " return m && m.textContent.length > 0; }"
    )
    page.get_by_role("button", name="Stop").click()
    _wait_idle(page)
    page.get_by_text("Stopped.").wait_for()
    # What arrived is kept, so the conversation can go on from it.
    history = _history(page)
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[1]["content"]
    assert page.get_by_role("alert").is_hidden()
    # The backend noticed the browser going away and cancelled Ollama's generation.
    record = fake.chats[-1]
    for _ in range(100):
        if record.outcome != "running":
            break
        page.wait_for_timeout(100)
    assert record.outcome == "cancelled"
    assert record.tokens_sent < 200


def test_reply_is_shown_as_text_never_as_markup(backend: str, fake: FakeOllama, page: Any) -> None:
    fake.reply_text = (
        '<img src=x onerror="window.pwned=1"> <b>bold</b> <script>window.pwned=2</script>'
    )
    page.goto(backend)
    _send(page, "say something nasty")
    _wait_idle(page)
    reply = page.locator(".msg.assistant .text").inner_text()
    assert "<b>bold</b>" in reply
    assert page.locator("#messages img, #messages b, #messages script").count() == 0
    assert page.evaluate("() => window.pwned === undefined")


def test_network_failure_is_reported(backend: str, page: Any) -> None:
    page.goto(backend)
    page.route("**/api/chat", lambda route: route.abort("connectionrefused"))
    _send(page, "anyone there?")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "Could not reach the service" in alert.inner_text()


def test_api_key_is_asked_for_and_sent(keyed_backend: str, page: Any) -> None:
    page.goto(keyed_backend)
    page.get_by_text("model: API key needed").wait_for()
    _send(page, "without a key")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "HTTP 401" in alert.inner_text()
    assert "API key" in alert.inner_text()

    page.get_by_label("API key (optional, kept only in this tab)").fill(API_KEY)
    page.get_by_role("button", name="Save").click()
    page.get_by_text(f"model: {MODEL}").wait_for()
    assert page.evaluate("() => localStorage.length") == 0
    page.get_by_role("button", name="Send").click()
    _wait_idle(page)
    assert _bubbles(page)[-1] == ("assistant", "You said: without a key")


def test_layout_fits_a_phone(backend: str, fake: FakeOllama, page: Any, tmp_path: Path) -> None:
    page.set_viewport_size(PHONE)
    fake.reply_text = "A long unbroken word " + "x" * 300 + " and a few more words to wrap."
    page.goto(backend)
    _send(page, "Show me how you wrap on a phone")
    _wait_idle(page)

    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width}px wide"
    for name in ("Your message", "Send", "New chat"):
        control = (
            page.get_by_label(name)
            if name == "Your message"
            else page.get_by_role("button", name=name)
        )
        box = control.bounding_box()
        assert box is not None, f"{name} is not laid out"
        assert box["x"] >= 0
        assert box["y"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"], f"{name} overflows to the right: {box}"
        assert box["y"] + box["height"] <= PHONE["height"], f"{name} is below the fold: {box}"
        # Big enough to hit with a thumb.
        assert box["height"] >= 40, f"{name} is too small to tap: {box}"
    for bubble in page.locator(".msg").all():
        box = bubble.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= PHONE["width"]

    target = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    shot = target / "chat-page-phone.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 0


def test_new_chat_while_streaming_starts_clean(backend: str, fake: FakeOllama, page: Any) -> None:
    fake.token_rate = 4
    fake.reply_tokens = 200
    page.goto(backend)
    _send(page, "a long story please")
    page.wait_for_function(
        "() => { const m = document.querySelector('.msg.assistant.streaming .text');"
        " return m && m.textContent.length > 0; }"
    )
    page.get_by_role("button", name="New chat").click()
    _wait_idle(page)
    # The interrupted turn must not leak into the new conversation.
    assert _bubbles(page) == []
    assert _history(page) == []
    page.reload()
    page.get_by_text("Ask anything").wait_for()
    assert _bubbles(page) == []


def test_on_a_touch_phone_enter_is_a_new_line_and_send_sends(
    backend: str, playwright: Any, tmp_path: Path
) -> None:
    phone = playwright.chromium.launch_persistent_context(
        str(tmp_path / "phone-profile"),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport=PHONE,
        has_touch=True,
        is_mobile=True,
    )
    phone.set_default_timeout(15_000)
    try:
        page = phone.new_page()
        page.goto(backend)
        page.get_by_label("Your message").tap()
        page.keyboard.type("line one")
        page.keyboard.press("Enter")
        page.keyboard.type("line two")
        assert page.locator(".msg").count() == 0, "Enter sent the message on a phone"
        page.get_by_role("button", name="Send").tap()
        _wait_idle(page)
        assert _bubbles(page) == [
            ("user", "line one\nline two"),
            ("assistant", "You said: line one\nline two"),
        ]
    finally:
        phone.close()
