// The casino website's chat widget: <script src="https://<pitboss>/static/chat-widget.js" defer></script>
// For a signed-in player, the page adds data-player="<external id>" and
// data-player-signature="t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<external id>">" signed
// with chat_widget_secret, and the chat is the player's.
// It talks to Pitboss over one WebSocket (/chat/widget) and keeps the chat's id and token in
// the tab's session storage, so a reload picks the conversation up again.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script.src, location.href);
  var socketUrl = (base.protocol === "https:" ? "wss://" : "ws://") + base.host + "/chat/widget";
  var KEY = "pitboss-chat";
  var box = document.createElement("section");
  box.id = "pitboss-chat";
  box.setAttribute("aria-label", "Chat with support");
  box.style.cssText = "position:fixed;right:1rem;bottom:1rem;width:20rem;background:#fff;border:1px solid #999;" +
    "border-radius:6px;font:14px sans-serif;box-shadow:0 2px 8px rgba(0,0,0,.2);z-index:2147483647";
  box.innerHTML =
    '<header style="padding:.5rem;background:#1d3557;color:#fff;border-radius:6px 6px 0 0">Chat with support</header>' +
    '<ol id="pbc-log" style="list-style:none;margin:0;padding:.5rem;height:14rem;overflow-y:auto"></ol>' +
    '<p id="pbc-typing" style="margin:0 .5rem;color:#666;min-height:1.2em"></p>' +
    '<p id="pbc-seen" style="margin:0 .5rem;color:#666;font-size:12px"></p>' +
    '<p id="pbc-error" role="alert" style="margin:0 .5rem;color:#b00020"></p>' +
    '<form id="pbc-form" style="display:grid;gap:.25rem;padding:.5rem">' +
    '<input id="pbc-name" placeholder="Your name" maxlength="100">' +
    '<textarea id="pbc-text" rows="2" placeholder="Write a message" maxlength="2000" required></textarea>' +
    '<div><button id="pbc-send" type="submit">Send</button> <button id="pbc-end" type="button">End chat</button></div>' +
    "</form>";
  document.body.appendChild(box);
  var log = box.querySelector("#pbc-log"), typing = box.querySelector("#pbc-typing");
  var seen = box.querySelector("#pbc-seen"), error = box.querySelector("#pbc-error");
  var text = box.querySelector("#pbc-text"), name = box.querySelector("#pbc-name");
  var socket, saved = null, typingTimer = null, lastTyping = 0;
  try { saved = JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { saved = null; }

  function line(m) {
    var li = document.createElement("li");
    li.className = "pbc-" + m.side;
    li.style.cssText = "margin:.25rem 0;text-align:" + (m.side === "player" ? "right" : "left");
    var who = document.createElement("small");
    who.textContent = (m.side === "player" ? "You" : "Support") + " · " + new Date(m.at).toLocaleTimeString();
    var said = document.createElement("div");
    said.textContent = m.body;
    li.appendChild(who);
    li.appendChild(said);
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }
  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }
  function markRead() {
    if (saved && document.visibilityState === "visible") send({ type: "read" });
  }
  function ended() {
    sessionStorage.removeItem(KEY);
    saved = null;
    typing.textContent = "";
    seen.textContent = "The chat has ended. Write again to start a new one.";
  }
  function connect() {
    var url = socketUrl + (saved ? "?chat=" + encodeURIComponent(saved.chat) + "&token=" + encodeURIComponent(saved.token) : "");
    socket = new WebSocket(url);
    socket.onmessage = function (event) {
      var f = JSON.parse(event.data);
      if (f.type === "started") {
        saved = { chat: f.chat.id, token: f.token };
        sessionStorage.setItem(KEY, JSON.stringify(saved));
        name.hidden = true;
        log.innerHTML = "";
        f.history.messages.forEach(line);
      } else if (f.type === "history") {
        name.hidden = true;
        log.innerHTML = "";
        f.messages.forEach(line);
        if (f.chat.state === "ended") ended(); else markRead();
      } else if (f.type === "message") {
        error.textContent = "";
        if (f.side === "agent") { typing.textContent = ""; seen.textContent = ""; }
        line(f);
        if (f.side === "agent") markRead();
      } else if (f.type === "typing" && f.side === "agent") {
        typing.textContent = "Support is typing…";
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { typing.textContent = ""; }, 4000);
      } else if (f.type === "read" && f.side === "agent") {
        seen.textContent = "Seen by support";
      } else if (f.type === "state" && f.chat.state === "ended") {
        ended();
      } else if (f.type === "error") {
        error.textContent = f.detail;
      }
    };
    socket.onclose = function () { setTimeout(connect, 2000); };
  }
  box.querySelector("#pbc-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var body = text.value.trim();
    if (!body) return;
    if (saved) send({ type: "say", body: body });
    else send({
      type: "start", name: name.value, message: body,
      player: script.dataset.player || null, player_signature: script.dataset.playerSignature || null
    });
    text.value = "";
  });
  text.addEventListener("input", function () {
    if (saved && Date.now() - lastTyping > 2000) { lastTyping = Date.now(); send({ type: "typing" }); }
  });
  box.querySelector("#pbc-end").addEventListener("click", function () { send({ type: "end" }); });
  document.addEventListener("visibilitychange", markRead);
  connect();
})();
