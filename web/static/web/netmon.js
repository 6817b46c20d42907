/* netmon: the dashboard refreshes itself, configuration rows save in place, copy buttons.
   Plain JavaScript, no dependencies, no build step. Every page works without it. */
(function () {
  "use strict";

  // --- Times, as the server writes them (web/formatting.py) ------------------------------

  function relative(date, now) {
    var diff = (now - date) / 1000;
    var future = diff < 0;
    var seconds = Math.floor(Math.abs(diff));
    if (seconds < 5) return "just now";
    var units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][1]) {
        var text = Math.floor(seconds / units[i][1]) + " " + units[i][0];
        return future ? "in " + text : text + " ago";
      }
    }
    return "just now";
  }

  function exact(date) {
    return date.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function timeElement(iso, now) {
    var element = document.createElement("time");
    var date = new Date(iso);
    element.dateTime = iso;
    element.title = exact(date);
    element.setAttribute("data-rel", "");
    element.textContent = relative(date, now);
    return element;
  }

  function setText(element, text) {
    if (element && element.textContent !== text) element.textContent = text;
  }

  function lookup(data, path) {
    return path.split(".").reduce(function (value, key) {
      return value == null ? undefined : value[key];
    }, data);
  }

  // --- The live dashboard ------------------------------------------------------------------

  function startDashboard(root) {
    var url = root.getAttribute("data-live-url");
    var interval = parseInt(root.getAttribute("data-interval"), 10) || 5000;
    var skew = Date.parse(root.getAttribute("data-server-time")) - Date.now() || 0;
    var banner = document.getElementById("stale-banner");
    var announcer = document.getElementById("live-announcer");
    var failingSince = null;
    var timer = null;
    var busy = false;

    function serverNow() {
      return new Date(Date.now() + skew);
    }

    function refreshRelativeTimes() {
      var now = serverNow();
      root.querySelectorAll("time[data-rel]").forEach(function (element) {
        setText(element, relative(new Date(element.dateTime), now));
      });
    }

    function announce(messages) {
      if (messages.length) announcer.textContent = messages.join(". ") + ".";
    }

    function showStale(reason) {
      var time = banner.querySelector("time");
      time.dateTime = failingSince.toISOString();
      time.title = exact(failingSince);
      time.textContent =
        failingSince.toLocaleTimeString() + " (" + relative(failingSince, new Date()) + ")";
      banner.setAttribute("data-reason", reason);
      if (banner.hidden) banner.hidden = false;
    }

    function updateSummary(data) {
      root.querySelectorAll("[data-summary]").forEach(function (element) {
        var value = lookup(data.summary, element.getAttribute("data-summary"));
        if (value !== undefined) setText(element, String(value));
      });
      var failed = root.querySelector('[data-summary="alerts.failed"]');
      if (failed) failed.closest(".tile").classList.toggle("tile-problem", data.summary.alerts.failed > 0);
      var broken = root.querySelector('[data-summary="broken_channels.count"]');
      if (broken) broken.closest(".tile").classList.toggle("tile-problem", data.summary.broken_channels.count > 0);
      ["connectivity", "findings"].forEach(function (key) {
        var panel = data.summary[key];
        var tile = root.querySelector('[data-panel="' + key + '"]');
        if (!panel || !tile) return;
        setText(tile.querySelector('[data-panel-field="text"]'), panel.text);
        setText(tile.querySelector('[data-panel-field="detail"]'), panel.detail ? ": " + panel.detail : "");
        tile.className = "tile tile-panel tile-state-" + panel.state;
      });
    }

    function updateRows(data, now, messages) {
      var tbody = document.getElementById("host-rows");
      if (!tbody) return;
      var seen = {};
      data.hosts.rows.forEach(function (host) {
        seen[host.host_id] = true;
        var row = tbody.querySelector('tr[data-host-id="' + CSS.escape(host.host_id) + '"]');
        if (!row) return;
        var badge = row.querySelector('[data-field="status"]');
        if (badge && badge.textContent !== host.status_label) {
          badge.className = "badge badge-" + host.status;
          badge.textContent = host.status_label;
          messages.push(host.name + " is now " + host.status_label.toLowerCase());
        }
        var cell = row.querySelector('[data-field="last-seen"]');
        var time = cell && cell.querySelector("time");
        if (cell && host.last_seen && (!time || time.dateTime !== host.last_seen)) {
          cell.replaceChildren(timeElement(host.last_seen, now));
        }
        Object.keys(host.uptime_text).forEach(function (label) {
          setText(row.querySelector('[data-uptime="' + label + '"]'), host.uptime_text[label]);
        });
      });
      var changed = Array.prototype.some.call(tbody.querySelectorAll("tr[data-host-id]"), function (row) {
        return !seen[row.getAttribute("data-host-id")];
      }) || data.hosts.rows.length !== tbody.querySelectorAll("tr[data-host-id]").length;
      var notice = document.getElementById("rows-changed");
      if (notice) notice.hidden = !changed;
    }

    function alertItem(alert, now) {
      var item = document.createElement("li");
      item.className = "alert";
      item.setAttribute("data-alert-id", alert.id);
      var severity = document.createElement("span");
      severity.className = "sev sev-" + alert.severity;
      severity.textContent = alert.severity;
      var title = document.createElement("span");
      title.className = "alert-title";
      if (alert.host_url) {
        var link = document.createElement("a");
        link.href = alert.host_url;
        link.textContent = alert.title;
        title.appendChild(link);
      } else {
        title.textContent = alert.title;
      }
      var meta = document.createElement("span");
      meta.className = "alert-meta";
      meta.appendChild(timeElement(alert.created_at, now));
      var state = " · " + alert.state_label;
      if (alert.acknowledged) {
        state += " · acknowledged" + (alert.acknowledged_by ? " by " + alert.acknowledged_by : "");
      }
      meta.appendChild(document.createTextNode(state));
      item.append(severity, " ", title, " ", meta);
      var csrf = document.getElementById("csrf-token");
      if (alert.can_acknowledge && csrf) {
        var form = document.createElement("form");
        form.method = "post";
        form.className = "ack-form";
        form.action = root.getAttribute("data-ack-url").replace(/\/0\/ack$/, "/" + alert.id + "/ack");
        [["csrfmiddlewaretoken", csrf.value], ["next", location.pathname + location.search]].forEach(
          function (pair) {
            var input = document.createElement("input");
            input.type = "hidden";
            input.name = pair[0];
            input.value = pair[1];
            form.appendChild(input);
          }
        );
        var button = document.createElement("button");
        button.type = "submit";
        button.textContent = "Acknowledge";
        button.setAttribute("aria-label", "Acknowledge: " + alert.title);
        form.appendChild(button);
        item.appendChild(form);
      }
      return item;
    }

    function updateAlerts(data, now, messages) {
      var list = document.getElementById("alerts-list");
      if (!list) return;
      var signature = data.alerts_signature;  // the page was rendered with its own
      if (list.getAttribute("data-signature") === signature) return;
      if (list.contains(document.activeElement)) return;  // don't pull a button from under focus
      var known = {};
      list.querySelectorAll("[data-alert-id]").forEach(function (item) {
        known[item.getAttribute("data-alert-id")] = true;
      });
      var items = data.alerts.map(function (alert) {
        if (!known[alert.id]) messages.push("New alert: " + alert.title);
        return alertItem(alert, now);
      });
      if (!items.length) {
        var empty = document.createElement("li");
        empty.className = "empty";
        empty.textContent = "No alerts yet.";
        items = [empty];
      }
      list.replaceChildren.apply(list, items);
      list.setAttribute("data-signature", signature);
    }

    function apply(data) {
      skew = Date.parse(data.generated_at) - Date.now() || skew;
      var now = serverNow();
      var messages = [];
      updateSummary(data);
      updateRows(data, now, messages);
      updateAlerts(data, now, messages);
      var updated = document.getElementById("updated-at");
      if (updated) {
        updated.dateTime = data.generated_at;
        updated.title = exact(now);
        setText(updated, exact(now).slice(11));
      }
      refreshRelativeTimes();
      announce(messages);
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(poll, interval);
    }

    function poll() {
      if (busy) return;
      if (document.hidden) return schedule();
      busy = true;
      var controller = window.AbortController ? new AbortController() : null;
      var deadline = setTimeout(function () { if (controller) controller.abort(); }, Math.max(interval, 4000));
      fetch(url + location.search, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
        signal: controller ? controller.signal : undefined,
      })
        .then(function (response) {
          if (response.status === 401) throw new Error("signed out");
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          failingSince = null;
          banner.hidden = true;
          apply(data);
        })
        .catch(function (error) {
          failingSince = failingSince || new Date();
          showStale(error && error.message === "signed out" ? "signed out" : "unreachable");
          refreshRelativeTimes();
        })
        .finally(function () {
          clearTimeout(deadline);
          busy = false;
          schedule();
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) poll();
    });
    schedule();
  }

  // --- Configuration rows, saved without leaving the page ----------------------------------

  function clearErrors(row) {
    row.classList.remove("has-errors");
    row.querySelectorAll(".field-error").forEach(function (element) { element.remove(); });
    row.querySelectorAll("[aria-invalid]").forEach(function (element) {
      element.removeAttribute("aria-invalid");
      element.removeAttribute("aria-describedby");
    });
  }

  function showErrors(row, hostId, errors) {
    row.classList.add("has-errors");
    var first = null;
    Object.keys(errors).forEach(function (name) {
      var cell = row.querySelector('[data-field="' + CSS.escape(name) + '"]') || row.querySelector("th");
      var message = document.createElement("span");
      message.className = "field-error";
      message.id = "e-" + hostId + "-" + name;
      message.textContent = errors[name].join(" ");
      cell.appendChild(message);
      var input = cell.querySelector("input:not([type=hidden]), select");
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", message.id);
        first = first || input;
      }
    });
    if (first) first.focus();
  }

  function enhanceConfigRows() {
    var announcer = document.getElementById("config-announcer");
    document.querySelectorAll("form.row-form").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.fetch || !window.FormData) return;
        event.preventDefault();
        var row = form.closest("tr");
        var hostId = row.getAttribute("data-host-id");
        var status = row.querySelector(".row-status");
        var button = form.querySelector("button");
        button.disabled = true;
        setText(status, "Saving…");
        fetch(form.action, {
          method: "POST",
          body: new FormData(form),
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        })
          .then(function (response) {
            var type = response.headers.get("Content-Type") || "";
            if (type.indexOf("application/json") === -1) {
              throw new Error("HTTP " + response.status + ": reload the page and try again");
            }
            return response.json();
          })
          .then(function (body) {
            clearErrors(row);
            if (body.ok) {
              setText(status, "Saved.");
              var badge = row.querySelector(".badge");
              if (badge && body.host.status) {
                badge.className = "badge badge-" + body.host.status;
                badge.textContent = body.host.status.charAt(0).toUpperCase() + body.host.status.slice(1);
              }
              announcer.textContent = body.message;
            } else {
              setText(status, "Not saved.");
              showErrors(row, hostId, body.errors || {});
              announcer.textContent = hostId + " was not saved: " +
                Object.keys(body.errors || {}).map(function (k) { return body.errors[k].join(" "); }).join(" ");
            }
          })
          .catch(function (error) {
            setText(status, "Not saved: " + (error.message.indexOf("HTTP") === 0 ? error.message : "the server is unreachable") + ".");
          })
          .finally(function () {
            button.disabled = false;
          });
      });
    });
  }

  // --- Copy buttons --------------------------------------------------------------------------

  function enhanceCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.querySelector(button.getAttribute("data-copy"));
        var status = button.parentElement.querySelector(".copy-status");
        var text = "value" in target ? target.value : target.textContent;
        function done(ok) {
          setText(status, ok ? "Copied." : "Select it and press Ctrl+C to copy.");
        }
        function fallback() {
          if ("select" in target) {
            target.focus();
            target.select();
          } else {
            var range = document.createRange();
            range.selectNodeContents(target);
            var selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
          }
          var ok = false;
          try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
          done(ok);
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var dashboard = document.getElementById("dashboard");
    if (dashboard && dashboard.getAttribute("data-live-url")) startDashboard(dashboard);
    enhanceConfigRows();
    enhanceCopyButtons();
  });
})();
