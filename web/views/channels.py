"""Alert channels on the web: list with their state, add, edit, delete, enable or
disable, and a test notification whose answer shows in the channel's row.

Administrators only (``accounts.manage_channels``): a channel is a secret URL the server
sends to. The form is the admin's (alerts/forms.py), so both check the same; the test is
the one of the admin and the API (alerts/channel_test.py).
"""

from django.contrib import messages
from django.contrib.messages.storage.base import Message
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import MANAGE_CHANNELS
from alerts.channel_test import send_test_notification
from alerts.forms import ChannelForm
from alerts.models import Channel
from web.access import requires

# The message of a channel's test is shown in its row: its tag names the channel.
TEST_TAG = "channel-test-"


def _list_url(channel: Channel | None = None) -> str:
    anchor = f"#channel-{channel.pk}" if channel is not None else ""
    return reverse("web:channels") + anchor


@never_cache
@require_http_methods(["GET"])
@requires(MANAGE_CHANNELS)
def channel_list(request):
    channels = list(
        Channel.objects.with_delivery_state().prefetch_related("hosts").order_by("name")
    )
    results: dict[int, Message] = {}
    others = []
    for message in messages.get_messages(request):
        tags = (message.extra_tags or "").split()
        tag = next((t for t in tags if t.startswith(TEST_TAG)), None)
        if tag is not None:
            results[int(tag.removeprefix(TEST_TAG))] = message
        else:
            others.append(message)
    for channel in channels:
        channel.test_result = results.get(channel.pk)
    context = {"channels": channels, "page_messages": others, "nav": "channels"}
    return render(request, "web/channels.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
@requires(MANAGE_CHANNELS)
def channel_edit(request, pk: int | None = None):
    channel = get_object_or_404(Channel, pk=pk) if pk is not None else None
    form = ChannelForm(request.POST or None, instance=channel)
    if request.method == "POST":
        if form.is_valid():
            saved = form.save()
            done = "Saved" if channel is not None else "Added"
            messages.success(request, f"{done} the channel {saved.name}.")
            return redirect(_list_url(saved))
        status = 400
    else:
        status = 200
    context = {"form": form, "channel": channel, "nav": "channels"}
    return render(request, "web/channel_form.html", context, status=status)


@never_cache
@require_POST
@requires(MANAGE_CHANNELS)
def channel_test(request, pk: int):
    channel = get_object_or_404(Channel, pk=pk)
    result = send_test_notification(channel, request.user.get_username(), "the channels page")
    messages.add_message(
        request,
        {"success": messages.SUCCESS, "warning": messages.WARNING, "error": messages.ERROR}[
            result.level
        ],
        f"Test notification: {result.text}",
        extra_tags=f"{TEST_TAG}{channel.pk}",
    )
    return redirect(_list_url(channel))


@never_cache
@require_POST
@requires(MANAGE_CHANNELS)
def channel_toggle(request, pk: int):
    channel = get_object_or_404(Channel, pk=pk)
    enable = request.POST.get("enabled") == "true"
    Channel.objects.filter(pk=channel.pk).update(enabled=enable)
    state = "enabled" if enable else "disabled: its alerts wait until it is enabled again"
    messages.success(request, f"{channel.name} is {state}.")
    return redirect(_list_url(channel))


@never_cache
@require_POST
@requires(MANAGE_CHANNELS)
def channel_repair(request, pk: int):
    channel = get_object_or_404(Channel, pk=pk)
    Channel.objects.filter(pk=channel.pk).update(broken_at=None, broken_reason="", send_after=None)
    messages.success(request, f"{channel.name} is marked as repaired: its alerts are retried.")
    return redirect(_list_url(channel))


@never_cache
@require_http_methods(["GET", "POST"])
@requires(MANAGE_CHANNELS)
def channel_delete(request, pk: int):
    channel = get_object_or_404(Channel, pk=pk)
    if channel.from_environment:
        messages.error(
            request,
            f"{channel.name} is DISCORD_WEBHOOK_URL: unset that variable, or disable it.",
        )
        return redirect(_list_url(channel))
    if request.method == "POST":
        channel.delete()
        messages.success(request, f"Deleted the channel {channel.name}.")
        return redirect(_list_url())
    return render(request, "web/channel_delete.html", {"channel": channel, "nav": "channels"})
