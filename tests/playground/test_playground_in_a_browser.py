"""The playground page in headless Chromium, against the example apps over real HTTP.

Each test clicks what a developer clicks and reads what the page shows (the widget, the
banner, the event log); the fixtures in ``conftest.py`` fail it on any console error.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import TYPE_CHECKING, Any

from _browser_support import ARTIFACTS, Console
from _stores_support import REPO

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

COUNT = "[data-item-id=wid_counter] [data-ck-id=count]"


def component_types() -> set[str]:
    """Every component type of chatkit-python's ``chatkit.widgets``, plus the Table types of @openai/chatkit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import chatkit.widgets as widgets

    found = {
        model.model_fields["type"].default
        for model in vars(widgets).values()
        if isinstance(model, type)
        and issubclass(model, widgets.WidgetComponentBase)
        and isinstance(model.model_fields["type"].default, str)
    }
    return found | {"Table", "Table.Row", "Table.Cell"}


def open_playground(page: Page, base_url: str, thread: str | None = None) -> None:
    """Open the playground (on ``thread``), and wait until it has drawn what it loaded."""
    page.goto(f"{base_url}/chatkit/playground" + (f"#thread={thread}" if thread else ""))
    page.wait_for_selector("body[data-ready=true]")


def count(page: Page) -> int:
    return int(page.inner_text(COUNT))


def wait_for_count(page: Page, n: int) -> None:
    # (a function, not an expression: the page's policy forbids evaluating strings)
    page.wait_for_function(
        "([where, n]) => document.querySelector(where)?.textContent === n", arg=[COUNT, str(n)]
    )


def event_types(page: Page) -> list[str]:
    return page.eval_on_selector_all(
        "li[data-event-type]", "entries => entries.map(e => e.dataset.eventType)"
    )


def sent_actions(page: Page, action_type: str) -> Locator:
    """The log's entries of the action requests of ``action_type`` sent to the endpoint."""
    return page.locator("li.pg-request").filter(
        has=page.locator(".pg-entry-title", has_text=f"_action {action_type}")
    )


def client_action(page: Page, action_type: str) -> Any:
    """The action a client-handled ``action_type`` would have passed to ChatKit's ``onAction``, from the log."""
    entry = page.locator("li.pg-client", has_text=f"{action_type}:").last
    entry.wait_for()
    entry.locator("summary").click()
    return json.loads(entry.locator("pre").inner_text())["action"]


def try_widget(page: Page, widget: dict[str, Any]) -> None:
    """Paste ``widget`` into "Try a widget", create its thread, and wait until it is drawn."""
    page.fill("#pg-widget-json", json.dumps(widget))
    page.click("#pg-create")
    wait_for_created_thread(page)


def wait_for_created_thread(page: Page) -> None:
    """Wait until the thread just created is the one drawn (not the one shown before it)."""
    page.wait_for_function(
        "() => location.hash.startsWith('#thread=thr_')"
        " && document.getElementById('pg-thread-id').textContent === decodeURIComponent(location.hash.slice(8))"
    )


# --------------------------------------------------------------------------- the counter (make run)


def test_the_counters_buttons_change_the_count_and_a_reload_shows_it_saved(
    page: Page, counter_url: str
) -> None:
    open_playground(page, counter_url, "thr_demo")
    page.wait_for_selector(COUNT)
    start = count(page)
    page.click("[data-item-id=wid_counter] button:has-text('+1')")
    wait_for_count(page, start + 1)
    page.click("[data-item-id=wid_counter] button:has-text('+5')")
    wait_for_count(page, start + 6)
    sent = sent_actions(page, "counter.increment")
    assert sent.count() == 2
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert count(page) == start + 6  # read back from the store
    assert page.inner_text("#pg-thread-title") == "Counter demo"
    assert page.locator("[data-thread-id=thr_demo].pg-selected").count() == 1


def test_a_streaming_action_shows_its_progress_then_the_update(page: Page, counter_url: str) -> None:
    open_playground(page, counter_url, "thr_demo")
    page.wait_for_selector(COUNT)
    start = count(page)
    page.click("[data-item-id=wid_counter] button:has-text('+1')")
    wait_for_count(page, start + 1)  # saved: something to reset
    page.click("[data-item-id=wid_counter] button:has-text('Reset')")
    wait_for_count(page, 0)
    page.locator("li.pg-entry", has_text="the stream ended").first.wait_for()
    stream = event_types(page)
    assert stream[:3] == ["stream_options", "progress_update", "thread.item.updated"]
    progress = page.locator("li[data-event-type=progress_update]").first
    progress.locator("summary").click()
    assert json.loads(progress.locator("pre").inner_text())["text"] == "Resetting…"
    # the hidden context the handler added is shown apart, once the thread is read back
    hidden = page.locator("[data-item-type=hidden_context_item]").last
    hidden.wait_for()
    assert "user reset the counter" in hidden.inner_text()
    assert "the model sees it" in hidden.inner_text()
    assert page.is_disabled("#pg-stop")  # nothing runs any more
    image = docs_image()
    if image is not None:
        page.set_viewport_size({"width": 1280, "height": 720})
        page.screenshot(path=str(image))


def docs_image() -> Any:
    """Where to save the screenshot docs/playground.md shows, when asked (``CHATKIT_PLAYGROUND_DOCS_IMAGE=1``)."""
    if os.environ.get("CHATKIT_PLAYGROUND_DOCS_IMAGE"):
        return REPO / "docs" / "img" / "playground.png"
    return None


def test_a_refused_action_shows_its_message(page: Page, counter_url: str, console: Console) -> None:
    console.expect(r"status of 422")  # Chromium reports every 4xx response on the console
    open_playground(page, counter_url)
    bad = {"type": "counter.increment", "payload": {"by": "two"}, "streaming": False}
    try_widget(
        page, {"type": "Card", "children": [{"type": "Button", "label": "Add two", "onClickAction": bad}]}
    )
    page.click("button:has-text('Add two')")
    banner = page.locator("#pg-banner")
    banner.wait_for()
    assert banner.inner_text() == (
        "payload.invalid: invalid payload for action 'counter.increment': Expected `int`, got `str` - at `$.by`"
    )
    refused = page.locator("li.pg-error", has_text="422")
    assert refused.count() == 1
    assert "Expected `int`, got `str` - at `$.by`" in refused.inner_text()
    # the router said so before the click, too
    assert "payload" in page.inner_text(".pg-problems")


# --------------------------------------------------------------------------- the form example


def test_the_form_example_submits_the_typed_values(page: Page, form_url: str) -> None:
    open_playground(page, form_url, "thr_booking")
    form = page.locator("[data-item-id=wid_booking] form")
    form.locator("input[name=name]").fill("Ada")
    form.locator("input[name=email]").fill("ada@example.com")
    form.locator("input[name=guests]").fill("4")
    form.locator("input[name=date]").fill("2030-05-01")
    form.locator("button:has-text('Book')").click()
    summary = page.locator("[data-item-id=wid_booking] [data-ck-id=summary]")
    summary.wait_for()
    assert summary.inner_text() == "Ada, 4 guests, on 2030-05-01."
    sent = sent_actions(page, "booking.submit").first
    sent.locator("summary").click()
    action = json.loads(sent.locator("pre").inner_text())["params"]["action"]
    # the form's values merged into the onSubmitAction's payload, keyed by name, as ChatKit sends them
    assert action == {
        "type": "booking.submit",
        "payload": {"name": "Ada", "email": "ada@example.com", "guests": "4", "date": "2030-05-01"},
    }
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert (
        page.inner_text("[data-item-id=wid_booking] [data-ck-id=summary]") == "Ada, 4 guests, on 2030-05-01."
    )


def test_an_invalid_form_is_not_sent(page: Page, form_url: str) -> None:
    """Required fields are checked as ChatKit checks them: natively, before anything is sent."""
    open_playground(page, form_url)
    form = {
        "type": "Card",
        "children": [
            {
                "type": "Form",
                "onSubmitAction": {"type": "booking.submit", "streaming": False},
                "children": [
                    {"type": "Input", "name": "name", "required": True},
                    {"type": "Button", "label": "Send", "submit": True},
                ],
            }
        ],
    }
    try_widget(page, form)
    page.click("button:has-text('Send')")
    page.locator("li.pg-client", has_text="not sent").first.wait_for()
    assert sent_actions(page, "booking.submit").count() == 0


# --------------------------------------------------------------------------- a long stream, stopped


def test_stop_hangs_up_a_stream_the_user_may_stop(page: Page, jobs_url: str) -> None:
    open_playground(page, jobs_url, "thr_jobs")
    page.click("[data-item-id=wid_job] button:has-text('Start import')")
    page.wait_for_selector("li[data-event-type=progress_update]")
    assert page.locator("#pg-progress").inner_text() == "Importing batch 1 of 5…"
    assert page.evaluate("() => document.getElementById('pg-items').inert")  # widgets are disabled meanwhile
    page.wait_for_function(
        "() => !document.getElementById('pg-stop').disabled"
    )  # stream_options: allow_cancel
    page.click("#pg-stop")
    page.locator("li.pg-client", has_text="stopped").first.wait_for()
    assert not page.evaluate("() => document.getElementById('pg-items').inert")
    assert page.locator("#pg-progress").is_hidden()
    # the handler's finally block saved the job as stopped; read the thread back until it has
    for _ in range(20):
        if page.locator("[data-item-id=wid_job] button:has-text('Resume')").count():
            break
        page.click("#pg-refresh")
        page.wait_for_timeout(100)
    assert page.inner_text("[data-item-id=wid_job] [data-ck-id=status]") == "stopped"
    assert "the user stopped the import" in page.inner_text("[data-item-type=hidden_context_item]")


# --------------------------------------------------------------------------- every component, safely


def test_one_widget_of_every_component_type_renders_without_a_console_error(
    page: Page, counter_url: str
) -> None:
    open_playground(page, counter_url)
    page.select_option("#pg-sample", label="Every component")
    page.click("#pg-create")
    wait_for_created_thread(page)
    drawn = set(page.eval_on_selector_all("[data-ck-type]", "nodes => nodes.map(n => n.dataset.ckType)"))
    assert component_types() <= drawn
    assert "unknown" not in drawn
    assert page.inner_text("#pg-thread-title") == "Every component"
    third = page.locator("[data-ck-type=ListViewItem]", has_text="Third row")
    assert third.is_hidden()  # past the ListView's limit
    page.click("button:has-text('Show 1 more')")
    assert third.is_visible()
    # client-handled actions are shown in the log, not sent: a click, a change, a Card's confirm
    page.click("button:has-text('Client action')")
    assert client_action(page, "gallery.click") == {"type": "gallery.click", "payload": {"id": 1}}
    page.select_option("select[name=plan]", "pro")  # onChangeAction: its value, and the form's
    assert client_action(page, "gallery.plan")["payload"] == {
        "name": "",
        "about": "",
        "plan": "pro",
        "news": True,
        "size": "m",
    }
    page.click("button.ck-card-confirm")
    assert client_action(page, "gallery.confirm") == {"type": "gallery.confirm", "payload": {"answer": "yes"}}
    assert sent_actions(page, "gallery.").count() == 0
    page.locator("[data-ck-type=Card]").first.screenshot(path=str(ARTIFACTS / "every-component-card.png"))


def test_an_unknown_component_is_shown_with_its_json(page: Page, counter_url: str) -> None:
    open_playground(page, counter_url)
    try_widget(page, {"type": "Card", "children": [{"type": "Sparkline", "points": [1, 3, 2]}]})
    unknown = page.locator("[data-ck-type=unknown]")
    assert "Unknown component: Sparkline" in unknown.inner_text()
    assert '"points"' in unknown.inner_text()


def test_stored_text_is_never_run_as_html(page: Page, counter_url: str) -> None:
    """A widget's text may come from users: it is shown as text, links and images only over http(s)."""
    open_playground(page, counter_url)
    attack = '<img src=x onerror="window.pwned=1">'
    widget = {
        "type": "Card",
        "children": [
            {"type": "Text", "id": "t", "value": attack},
            {
                "type": "Markdown",
                "id": "m",
                "value": f"{attack} [click](javascript:window.pwned=2) **b** [ok](https://example.com)",
            },
            {"type": "Image", "id": "i", "src": "javascript:window.pwned=3"},
            {
                "type": "Text",
                "id": "s",
                "value": "styled",
                "color": "red; background: url(https://example.com/x)",
            },
        ],
    }
    try_widget(page, widget)
    assert page.inner_text("[data-ck-id=t]") == attack
    markdown = page.locator("[data-ck-id=m]")
    assert attack in markdown.inner_text()
    assert markdown.locator("img").count() == 0
    assert markdown.locator("a").count() == 1
    assert markdown.locator("a").get_attribute("href") == "https://example.com"
    assert markdown.locator("strong").inner_text() == "b"
    assert "only http(s)" in page.inner_text("[data-ck-id=i]")
    assert page.locator("[data-ck-id=s]").evaluate("node => node.style.color") == ""
    assert page.evaluate("() => window.pwned") is None


# --------------------------------------------------------------------------- the app's templates


def test_a_template_rendered_with_typed_data_is_answered_by_the_apps_handlers(
    page: Page, bridge_url: str, console: Console
) -> None:
    console.expect(r"status of 422")  # the template's data, checked against its schema, first
    open_playground(page, bridge_url)
    page.select_option("#pg-sample", label="poll (poll.widget)")
    banner = page.locator("#pg-banner")
    banner.wait_for()  # the poll has no sample data: {} does not match its schema
    assert banner.inner_text().startswith("template.invalid:")
    assert "'question' is a required property" in banner.inner_text()
    page.fill(
        "#pg-template-json", json.dumps({"question": "Lunch at noon?", "yes": 0, "no": 2, "closed": False})
    )
    page.click("#pg-render")
    page.wait_for_function("() => document.getElementById('pg-widget-json').value.includes('Lunch at noon?')")
    page.click("#pg-create")
    wait_for_created_thread(page)
    assert page.locator("#pg-thread-title").inner_text() == "poll"
    page.click("[data-item-type=widget] button:has-text('Yes')")  # the router's poll.vote, through the bridge
    page.wait_for_function("() => document.querySelector('[data-ck-id=yes]')?.textContent === '1'")
    page.click("[data-item-type=widget] button:has-text('Close')")  # a stream: progress, widgets, the title
    page.locator("#pg-thread-title", has_text="Poll: Lunch at noon?").wait_for()
    assert "This poll is closed." in page.locator("[data-item-type=widget]").first.inner_text()
    assert "thread.updated" in event_types(page)
    assert "thread.item.added" in event_types(page)
