// The agents' chat console: each chat opened from the list gets a panel with its own socket
// (/chat/console/<id>/ws), so an agent holds several chats at once.
(function () {
  "use strict";
  var panels = document.getElementById("chat-panels");
  var csrf = document.getElementById("chat-panels").dataset.csrf || "";
  var open = {};

  function el(tag, attrs, textContent) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (textContent !== undefined) e.textContent = textContent;
    return e;
  }

  function openChat(id, ticket, number, visitor) {
    if (open[id]) { open[id].scrollIntoView(); return; }
    var p = el("section", { id: "chat-" + id, "class": "chat-panel", "aria-label": "Chat with " + visitor });
    var head = el("h3", {}, visitor + " · ticket #" + number + " ");
    head.appendChild(el("a", { href: "/tickets/" + ticket }, "ticket"));
    var state = el("p", { "class": "chat-state" }, "");
    var log = el("ol", { "class": "chat-log" });
    var typing = el("p", { "class": "chat-typing" }, "");
    var seen = el("p", { "class": "chat-seen" }, "");
    var error = el("p", { "class": "error chat-error", role: "alert" }, "");
    var canned = document.getElementById("canned-template").cloneNode(true);
    canned.removeAttribute("id");
    canned.hidden = false;
    canned.className = "chat-canned";
    var input = el("textarea", { "class": "chat-input", rows: "3", maxlength: "2000", "aria-label": "Answer" });
    var sendButton = el("button", { type: "button", "class": "chat-send" }, "Send");
    var take = el("button", { type: "button", "class": "secondary chat-take" }, "Take");
    var to = el("input", { "class": "chat-to", placeholder: "agent to transfer to", size: "14" });
    var transfer = el("button", { type: "button", "class": "secondary chat-transfer" }, "Transfer");
    var end = el("button", { type: "button", "class": "secondary chat-end" }, "End chat");
    var controls = el("div", { "class": "inline" });
    [canned, sendButton, take, to, transfer, end].forEach(function (c) { controls.appendChild(c); });
    [head, state, log, typing, seen, error, input, controls].forEach(function (c) { p.appendChild(c); });
    panels.appendChild(p);
    open[id] = p;

    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/chat/console/" + id + "/ws";
    var socket = new WebSocket(url);
    var timer = null, lastTyping = 0;
    function send(frame) { if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame)); }
    function line(m) {
      var li = el("li", { "class": "chat-" + m.side + (m.kind === "note" ? " chat-note" : "") });
      li.appendChild(el("small", {}, m.author + " · " + new Date(m.at).toLocaleTimeString()));
      li.appendChild(el("div", {}, m.body));
      log.appendChild(li);
      log.scrollTop = log.scrollHeight;
    }
    function showState(chat) {
      state.textContent = chat.state === "ended" ? "Ended." :
        chat.agent ? "Held by " + chat.agent + "." : "Waiting for an agent.";
      if (chat.state === "ended") { input.disabled = true; sendButton.disabled = true; }
    }
    socket.onmessage = function (event) {
      var f = JSON.parse(event.data);
      if (f.type === "history") { log.innerHTML = ""; f.messages.forEach(line); showState(f.chat); send({ type: "read" }); }
      else if (f.type === "message") {
        error.textContent = "";
        if (f.side === "player") { typing.textContent = ""; send({ type: "read" }); } else { seen.textContent = ""; }
        line(f);
      } else if (f.type === "typing" && f.side === "player") {
        typing.textContent = "The player is typing…";
        clearTimeout(timer);
        timer = setTimeout(function () { typing.textContent = ""; }, 4000);
      } else if (f.type === "read" && f.side === "player") { seen.textContent = "Seen by the player"; }
      else if (f.type === "state") { showState(f.chat); }
      else if (f.type === "error") { error.textContent = f.detail; }
    };
    socket.onclose = function () { state.textContent = "Disconnected; reload the page to reconnect."; };
    sendButton.addEventListener("click", function () {
      var body = input.value.trim();
      if (body) { send({ type: "say", body: body }); input.value = ""; }
    });
    input.addEventListener("input", function () {
      if (Date.now() - lastTyping > 2000) { lastTyping = Date.now(); send({ type: "typing" }); }
    });
    take.addEventListener("click", function () { send({ type: "take" }); });
    transfer.addEventListener("click", function () { send({ type: "transfer", to: to.value }); });
    end.addEventListener("click", function () { send({ type: "end" }); });
    canned.addEventListener("change", function () {
      if (!canned.value) return;
      fetch("/api/v1/tickets/" + ticket + "/template-preview", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ name: canned.value })
      }).then(function (r) { return r.json(); }).then(function (preview) {
        if (preview.body !== undefined) input.value = preview.body; else error.textContent = preview.detail;
        canned.value = "";
      });
    });
  }

  document.addEventListener("click", function (event) {
    var b = event.target.closest("[data-open-chat]");
    if (!b) return;
    openChat(b.dataset.openChat, b.dataset.ticket, b.dataset.number, b.dataset.visitor);
  });
})();
