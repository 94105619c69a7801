// The chat page. It talks to the backend's Ollama-shaped POST /api/chat (NDJSON stream) and
// sends the whole conversation every turn, because the backend and Ollama keep no chat state.
// Model output is only ever written with textContent: a reply can contain any markup.
"use strict";

(() => {
  const HISTORY_KEY = "llmservice.chat.history.v1";
  const API_KEY_KEY = "llmservice.chat.apiKey";
  const ROLES = new Set(["user", "assistant", "system"]);

  const $ = (id) => document.getElementById(id);
  const ui = {
    model: $("model-name"),
    newChat: $("new-chat"),
    settings: $("settings"),
    keyForm: $("key-form"),
    keyInput: $("api-key"),
    keyStatus: $("key-status"),
    forgetKey: $("forget-key"),
    conversation: $("conversation"),
    messages: $("messages"),
    empty: $("empty-hint"),
    alert: $("alert"),
    alertText: $("alert-text"),
    alertClose: $("alert-close"),
    composer: $("composer"),
    prompt: $("prompt"),
    send: $("send"),
    stop: $("stop"),
  };

  const state = {
    history: loadHistory(),
    model: null,
    controller: null,
    // Bumped by "New chat": a turn that ends after it must not write into the new history.
    epoch: 0,
  };

  // ---- storage -------------------------------------------------------------------------

  // Storage can be full, disabled (private mode) or hold something a previous version wrote:
  // the page must still work, with whatever part of the history is well formed.
  function loadHistory() {
    try {
      const parsed = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]");
      if (!Array.isArray(parsed)) return [];
      return parsed.filter(
        (m) => m && ROLES.has(m.role) && typeof m.content === "string",
      ).map((m) => ({ role: m.role, content: m.content }));
    } catch {
      return [];
    }
  }

  function saveHistory() {
    try {
      sessionStorage.setItem(HISTORY_KEY, JSON.stringify(state.history));
    } catch {
      // Not fatal: the conversation still works, it just will not survive a reload.
    }
  }

  function getApiKey() {
    try {
      return sessionStorage.getItem(API_KEY_KEY) || "";
    } catch {
      return "";
    }
  }

  function setApiKey(value) {
    try {
      if (value) sessionStorage.setItem(API_KEY_KEY, value);
      else sessionStorage.removeItem(API_KEY_KEY);
    } catch {
      // The key then lives only for this page view.
    }
  }

  function authHeaders() {
    const key = getApiKey();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  // ---- rendering -----------------------------------------------------------------------

  function isNearBottom() {
    const c = ui.conversation;
    return c.scrollHeight - c.scrollTop - c.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.conversation.scrollTop = ui.conversation.scrollHeight;
  }

  function addBubble(role, content) {
    const li = document.createElement("li");
    li.className = `msg ${role}`;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = role === "user" ? "You" : role === "assistant" ? "Assistant" : "System";
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = content;
    li.append(who, text);
    ui.messages.append(li);
    ui.empty.hidden = true;
    return li;
  }

  function addNote(li, note) {
    const span = document.createElement("span");
    span.className = "note";
    span.textContent = note;
    li.append(span);
  }

  function renderHistory() {
    ui.messages.replaceChildren();
    for (const m of state.history) addBubble(m.role, m.content);
    ui.empty.hidden = state.history.length > 0;
    scrollToBottom();
  }

  function showError(message) {
    const follow = isNearBottom();
    ui.alertText.textContent = message;
    ui.alert.hidden = false;
    // The alert takes room from the conversation: keep its last lines in view.
    if (follow) scrollToBottom();
  }

  function clearError() {
    ui.alert.hidden = true;
    ui.alertText.textContent = "";
  }

  function setBusy(busy) {
    ui.send.disabled = busy;
    ui.send.hidden = busy;
    ui.stop.hidden = !busy;
    ui.messages.setAttribute("aria-busy", busy ? "true" : "false");
    if (busy) ui.stop.focus();
  }

  function fitPrompt() {
    ui.prompt.style.height = "auto";
    ui.prompt.style.height = `${ui.prompt.scrollHeight + 2}px`;
  }

  // ---- talking to the backend ----------------------------------------------------------

  class ChatError extends Error {}

  // The backend answers errors as JSON, in Ollama's shape ({"error": "..."}), OpenAI's
  // ({"error": {"message": ...}}) or FastAPI's ({"detail": ...}); any of them is shown as is.
  function messageFromBody(body) {
    if (!body || typeof body !== "object") return "";
    const err = body.error;
    if (typeof err === "string") return err;
    if (err && typeof err.message === "string") return err.message;
    const detail = body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const where = Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : "";
        return where ? `${where}: ${d.msg}` : String(d.msg ?? JSON.stringify(d));
      }).join("; ");
    }
    if (typeof body.message === "string") return body.message;
    return "";
  }

  async function describeHttpError(resp) {
    let serverMessage = "";
    const raw = await resp.text().catch(() => "");
    try {
      serverMessage = messageFromBody(JSON.parse(raw));
    } catch {
      serverMessage = raw.trim().slice(0, 500);
    }
    let said = serverMessage ? `: ${serverMessage}` : ".";
    if (!/[.!?]$/.test(said)) said += ".";
    switch (resp.status) {
      case 429: {
        const retry = Number.parseInt(resp.headers.get("Retry-After") || "", 10);
        const when = Number.isFinite(retry) && retry >= 0
          ? `in ${retry} second${retry === 1 ? "" : "s"}`
          : "in a moment";
        return `The service is busy (HTTP 429)${said} Please try again ${when}.`;
      }
      case 401:
      case 403:
        return `The service refused the request (HTTP ${resp.status})${said} ` +
          "Enter a valid API key under “API key”.";
      case 413:
        return `The conversation is too long for the service (HTTP 413)${said} ` +
          "Start a new chat.";
      default:
        if (resp.status >= 500) {
          return `The service failed to answer (HTTP ${resp.status})${said}`;
        }
        return `The service rejected the request (HTTP ${resp.status})${said}`;
    }
  }

  // Reads an NDJSON body line by line; a line can arrive split across network chunks.
  async function* ndjsonLines(body) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line) yield line;
        }
      }
      buffer += decoder.decode();
      if (buffer.trim()) yield buffer.trim();
    } finally {
      reader.releaseLock();
    }
  }

  async function loadModel() {
    try {
      const resp = await fetch("/v1/models", { headers: { ...authHeaders() } });
      if (resp.status === 401 || resp.status === 403) {
        ui.model.textContent = "model: API key needed";
        ui.settings.open = true;
        return;
      }
      if (!resp.ok) {
        ui.model.textContent = "model: unavailable";
        return;
      }
      const body = await resp.json();
      const first = Array.isArray(body.data) ? body.data[0] : null;
      if (first && typeof first.id === "string") {
        state.model = first.id;
        ui.model.textContent = `model: ${first.id}`;
      } else {
        ui.model.textContent = "model: unknown";
      }
    } catch {
      ui.model.textContent = "model: unreachable";
    }
  }

  async function streamReply(bubble, controller) {
    const textEl = bubble.querySelector(".text");
    const payload = { messages: state.history, stream: true };
    if (state.model) payload.model = state.model;

    let resp;
    try {
      resp = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...authHeaders() },
        body: JSON.stringify(payload),
        signal: controller.signal,
      });
    } catch (err) {
      if (controller.signal.aborted) throw err;
      throw new ChatError(
        "Could not reach the service. Check your network connection and try again.",
      );
    }
    if (!resp.ok) throw new ChatError(await describeHttpError(resp));
    if (!resp.body) throw new ChatError("The service sent an empty reply.");

    let finished = null;
    try {
      for await (const line of ndjsonLines(resp.body)) {
        let chunk;
        try {
          chunk = JSON.parse(line);
        } catch {
          throw new ChatError("The service sent a reply this page cannot read.");
        }
        if (chunk.error !== undefined) {
          const said = messageFromBody(chunk) || String(chunk.error);
          throw new ChatError(`The model stopped with an error: ${said}`);
        }
        const piece = chunk.message && typeof chunk.message.content === "string"
          ? chunk.message.content
          : "";
        if (piece) {
          const follow = isNearBottom();
          textEl.textContent += piece;
          if (follow) scrollToBottom();
        }
        if (chunk.done) {
          finished = chunk;
          break;
        }
      }
    } catch (err) {
      if (err instanceof ChatError || controller.signal.aborted) throw err;
      throw new ChatError(
        "The connection was lost while the reply was streaming. Try again.",
      );
    }
    if (!finished) {
      throw new ChatError("The reply ended before it was complete. Try again.");
    }
    return { text: textEl.textContent, doneReason: finished.done_reason };
  }

  async function send(text) {
    clearError();
    // A failed turn stays on screen until the next attempt, which replaces it.
    for (const old of ui.messages.querySelectorAll(".msg.failed")) old.remove();
    state.history.push({ role: "user", content: text });
    saveHistory();
    const userBubble = addBubble("user", text);
    const bubble = addBubble("assistant", "");
    bubble.classList.add("streaming");
    scrollToBottom();

    const controller = new AbortController();
    const epoch = state.epoch;
    state.controller = controller;
    setBusy(true);
    try {
      const { text: reply, doneReason } = await streamReply(bubble, controller);
      if (epoch !== state.epoch) return;
      state.history.push({ role: "assistant", content: reply });
      saveHistory();
      if (doneReason === "length") addNote(bubble, "The reply was cut at the length limit.");
    } catch (err) {
      if (epoch !== state.epoch) return;
      const partial = bubble.querySelector(".text").textContent;
      if (controller.signal.aborted) {
        // Stopped on purpose: what arrived is kept, so the conversation can go on from it.
        if (partial) {
          state.history.push({ role: "assistant", content: partial });
          addNote(bubble, "Stopped.");
        } else {
          dropTurn(text, userBubble, bubble);
        }
        saveHistory();
      } else {
        // A failed turn leaves the history as before it, and the text back in the box to retry.
        state.history.pop();
        saveHistory();
        bubble.classList.add("failed");
        userBubble.classList.add("failed");
        addNote(bubble, "No complete reply: see the error below.");
        if (!ui.prompt.value) ui.prompt.value = text;
        fitPrompt();
        showError(err instanceof ChatError ? err.message : `Unexpected error: ${err}`);
      }
    } finally {
      bubble.classList.remove("streaming");
      if (state.controller === controller) {
        state.controller = null;
        setBusy(false);
        ui.prompt.focus();
      }
    }
  }

  function dropTurn(text, userBubble, bubble) {
    state.history.pop();
    userBubble.remove();
    bubble.remove();
    if (!ui.prompt.value) ui.prompt.value = text;
    ui.empty.hidden = state.history.length > 0;
  }

  // ---- wiring --------------------------------------------------------------------------

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    if (state.controller) return;
    const text = ui.prompt.value.trim();
    if (!text) return;
    ui.prompt.value = "";
    fitPrompt();
    send(text);
  });

  // On touch screens there is no Shift key: Enter makes a new line and the Send button sends.
  const touchOnly = window.matchMedia("(pointer: coarse)").matches;
  if (touchOnly) {
    ui.prompt.setAttribute("enterkeyhint", "enter");
    document.getElementById("composer-hint").textContent = "The Send button sends the message.";
  }

  ui.prompt.addEventListener("keydown", (event) => {
    if (touchOnly) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ui.composer.requestSubmit();
    }
  });
  ui.prompt.addEventListener("input", fitPrompt);

  ui.stop.addEventListener("click", () => {
    if (state.controller) state.controller.abort();
  });

  ui.newChat.addEventListener("click", () => {
    state.epoch += 1;
    if (state.controller) state.controller.abort();
    state.history = [];
    saveHistory();
    clearError();
    renderHistory();
    ui.prompt.focus();
  });

  ui.alertClose.addEventListener("click", clearError);

  ui.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = ui.keyInput.value.trim();
    setApiKey(value);
    ui.keyInput.value = "";
    ui.keyStatus.textContent = value ? "Key saved for this tab." : "No key set.";
    loadModel();
  });

  ui.forgetKey.addEventListener("click", () => {
    setApiKey("");
    ui.keyInput.value = "";
    ui.keyStatus.textContent = "Key forgotten.";
    loadModel();
  });

  ui.keyStatus.textContent = getApiKey() ? "A key is set for this tab." : "";
  renderHistory();
  loadModel();
})();
