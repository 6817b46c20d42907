"""Alert text as structure: netmon's own formatting as markup, everything else as data.

Much of what an alert says was written by someone else: host names, log lines, the LLM's
findings, error texts, target names. Written into Discord markdown when the alert is
queued, a log line's ``[click here](https://evil.example/)`` would become a link, and the
JSON webhook and the email would get Discord's backslashes. So an alert keeps a *text*: a
list of parts, where a ``str`` is data, shown exactly as written, and a one-key dict is
netmon's own formatting (:func:`strong`, :func:`em`, :func:`code`, :func:`timestamp`,
:func:`code_block`). Each transport renders the parts at send time: :func:`as_discord`
escapes the data for Discord markdown, :func:`as_html` for an email's HTML part, and
:func:`as_plain` (JSON webhook, the email's text part, API) gives it back unchanged.

Discord rendering of data:

- markdown characters get a backslash (``\\[x\\](url)`` shows literally, no masked link);
  at line starts, headings (``#``, ``-#``), block quotes and list markers are escaped too;
- mention syntax (``<@…>``, ``<@&…>``, ``<#…>``, ``<t:…>``, ``</…>``, ``<:…>``) and
  ``@everyone``/``@here`` get a zero-width space (U+200B) so they never render as mentions,
  on top of the channel's ``allowed_mentions``;
- ``://`` gets a zero-width space (``https:\u200b//…``): a URL written by an outsider shows
  as text but is not auto-linked, so a hostile link is never one click away (copying it
  keeps the invisible character: whoever wants to visit it has to type it).

Inside a code block nothing is escaped (Discord shows it literally); only backtick runs
(a fence would close the block) and mention syntax get the zero-width space, which is
invisible.

HTML rendering of data: every ``str`` part is HTML-escaped (``<script>`` shows as text,
quotes too, so data is safe in an attribute as well), line breaks become ``<br>``, and
``://`` gets the same zero-width space as in Discord, so that mail clients do not turn an
outsider's URL into a link. Markdown and mentions mean nothing in HTML: they stay as
written.
"""

import html
import re
from datetime import UTC, datetime
from typing import Any

ZWSP = "\u200b"

Part = str | dict[str, Any]
Text = str | list[Part]  # a plain ``str`` is one data part

MARKDOWN = re.compile(r"([\\*_~`|\[\]])")
# At the start of a line: headings, subtext, block quotes, list items, numbered items
LINE_START = re.compile(r"^([ \t]*)(#|-#|>|[-+](?=[ \t])|\d+\.(?=[ \t]))", re.MULTILINE)
# ``<@…>``, ``<#…>``, ``</…>``, ``<:…>``, ``<t:…>``, ``<a:…>``, ``<id:…>``; everyone, here
MENTION = re.compile(r"<(?=[@#/:]|[a-z]+:)|@(?=everyone|here)", re.IGNORECASE)
SCHEME = re.compile(r":(?=//)")
BACKTICK_RUN = re.compile(r"`(?=`)")
LINE_BREAK = re.compile(r"\r\n|\r|\n")


# Netmon's formatting -----------------------------------------------------------------------


def strong(text: str) -> dict[str, str]:
    """Netmon's own label in bold; ``text`` must not come from outside."""
    return {"strong": text}


def em(text: str) -> dict[str, str]:
    return {"em": text}


def code(text: str) -> dict[str, str]:
    """Inline code: for identifiers (host ids, paths, cron expressions); may be data."""
    return {"code": text}


def timestamp(at: datetime) -> dict[str, int]:
    """A moment: Discord shows it in the reader's time zone, plain text in UTC."""
    return {"time": int(at.timestamp())}


def code_block(lines: list[str]) -> dict[str, list[str]]:
    """Lines shown verbatim, e.g. log evidence; may be data."""
    return {"block": list(lines)}


def parts(text: Text) -> list[Part]:
    return [text] if isinstance(text, str) else list(text)


# Rendering -----------------------------------------------------------------------------------


def moment(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _utc(epoch: int) -> str:
    return f"{moment(epoch):%Y-%m-%d %H:%M:%S} UTC"


def times(text: Text) -> list[datetime]:
    """The moments a text names, in order: typed values for the JSON webhook."""
    return [
        moment(part["time"]) for part in parts(text) if isinstance(part, dict) and "time" in part
    ]


def as_plain(text: Text) -> str:
    """The text as written: data unchanged, netmon's formatting left out (JSON, email)."""
    rendered = []
    for part in parts(text):
        if isinstance(part, str):
            rendered.append(part)
        elif "time" in part:
            rendered.append(_utc(part["time"]))
        elif "block" in part:
            rendered.append("\n".join(part["block"]))
        else:
            [value] = part.values()
            rendered.append(value)
    return "".join(rendered)


def unlinked(text: str) -> str:
    """Outside text for a service whose rendering netmon does not know (Apprise's targets:
    Mattermost and Rocket.Chat render markdown and mentions in plain text): a zero-width
    space after every ``@`` and inside ``://``, so no mention pings and no outsider's URL
    is linked; otherwise exactly as written."""
    return SCHEME.sub(":" + ZWSP, text.replace("@", "@" + ZWSP))


def as_inert(text: Text) -> str:
    """``as_plain`` with every data part defused (netmon's own parts as written)."""
    return as_plain([unlinked(part) if isinstance(part, str) else part for part in parts(text)])


def discord_escape(text: str) -> str:
    """Data for Discord markdown: shown as written, never formatting, links or mentions."""
    text = MARKDOWN.sub(r"\\\1", text)
    text = LINE_START.sub(lambda m: f"{m[1]}{m[2][:-1]}\\{m[2][-1]}", text)
    text = MENTION.sub(lambda match: match[0] + ZWSP, text)
    return SCHEME.sub(":" + ZWSP, text)


def defuse(line: str) -> str:
    """A line for a Discord code block: no fence can close it, no mention renders."""
    return MENTION.sub(lambda match: match[0] + ZWSP, BACKTICK_RUN.sub("`" + ZWSP, line))


def discord_code_block(lines: list[str]) -> str:
    if not lines:
        return ""
    return "```\n" + "\n".join(defuse(line) for line in lines) + "\n```"


def _discord_code(text: str) -> str:
    # A backtick would end the span, a newline breaks it: such text is shown escaped.
    if not text or "`" in text or "\n" in text:
        return discord_escape(text)
    return f"`{text}`"


def as_discord(text: Text) -> str:
    """Discord markdown: netmon's formatting as markup, every data part escaped."""
    rendered = []
    for part in parts(text):
        if isinstance(part, str):
            rendered.append(discord_escape(part))
        elif "strong" in part:
            rendered.append(f"**{discord_escape(part['strong'])}**")
        elif "em" in part:
            rendered.append(f"_{discord_escape(part['em'])}_")
        elif "code" in part:
            rendered.append(_discord_code(part["code"]))
        elif "time" in part:
            rendered.append(f"<t:{part['time']}:f> ({_utc(part['time'])})")
        else:
            rendered.append(discord_code_block(part["block"]))
    return "".join(rendered)


def html_escape(text: str) -> str:
    """Data for HTML: shown as written, never markup, and no outsider's URL auto-linked."""
    return SCHEME.sub(":" + ZWSP, html.escape(text))


def _html_lines(text: str) -> str:
    return LINE_BREAK.sub("<br>\n", html_escape(text))


def as_html(text: Text) -> str:
    """HTML for an email: netmon's formatting as tags, every data part escaped."""
    rendered = []
    for part in parts(text):
        if isinstance(part, str):
            rendered.append(_html_lines(part))
        elif "strong" in part:
            rendered.append(f"<strong>{_html_lines(part['strong'])}</strong>")
        elif "em" in part:
            rendered.append(f"<em>{_html_lines(part['em'])}</em>")
        elif "code" in part:
            rendered.append(f"<code>{_html_lines(part['code'])}</code>")
        elif "time" in part:
            at = moment(part["time"])
            rendered.append(f'<time datetime="{at.isoformat()}">{_utc(part["time"])}</time>')
        else:
            lines = "\n".join(html_escape(line) for line in part["block"])
            rendered.append(f"<pre><code>{lines}</code></pre>")
    return "".join(rendered)
