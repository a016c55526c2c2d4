// The page's own behaviour around Gradio: copy a citation, keep a passage in the open
// evidence pack, read a passage in its source (the reader), and the Evidence pack tab.
// Every piece of document text arrives as escaped HTML built by the server; this script only
// moves it into place. One listener per kind of event, on the document, so it survives
// Gradio re-rendering the results.
(() => {
  const PACK_KEY = "evidence-search-pack";
  const state = {reader: null, card: null};

  const password = () => sessionStorage.getItem("evidence-search-password") || "";

  async function call(method, url, body) {
    const headers = {"X-Evidence-Password": password()};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response = await fetch(url, {method, headers,
      body: body === undefined ? undefined : JSON.stringify(body)});
    if (response.status === 401) {
      const given = window.prompt("Password for changing evidence packs:");
      if (given === null) throw new Error("no password given");
      sessionStorage.setItem("evidence-search-password", given);
      return call(method, url, body);
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = data.detail;
      const reason = Array.isArray(detail) ? detail.map((d) => d.msg).join("; ")
        : (detail && detail.message) || detail || response.statusText;
      const error = new Error(reason);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // The clipboard API needs a secure context or permission; fall back to a hidden textarea.
  async function copyText(text) {
    try { await navigator.clipboard.writeText(text); }
    catch (e) {
      const area = document.createElement("textarea"); area.value = text;
      document.body.appendChild(area); area.select(); document.execCommand("copy");
      area.remove();
    }
  }

  function toast(text, failed) {
    let box = document.getElementById("evidence-toast");
    if (!box) {
      box = document.createElement("div");
      box.id = "evidence-toast";
      box.setAttribute("role", "status");
      document.body.appendChild(box);
    }
    box.textContent = text;
    box.className = failed ? "failed" : "";
    box.hidden = false;
    clearTimeout(box.timer);
    box.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  // -- the open pack ---------------------------------------------------------------------
  const openPackId = () => localStorage.getItem(PACK_KEY) || "";
  const setOpenPack = (id) => localStorage.setItem(PACK_KEY, String(id || ""));

  async function openPack() {
    const packs = await call("GET", "/packs");
    let pack = packs.find((p) => String(p.id) === openPackId()) || packs[0];
    if (!pack) pack = await call("POST", "/packs", {name: "Evidence pack"});
    setOpenPack(pack.id);
    return pack;
  }

  function searchContext() {
    const results = document.querySelector("#results .results");
    const mode = document.querySelector("#mode input:checked");
    return {question: results ? results.dataset.question || "" : "",
            mode: mode ? mode.value : ""};
  }

  // Keeps run one after another: two quick clicks with no pack yet make one pack, not two.
  let keeping = Promise.resolve();
  function keep(source, button) {
    keeping = keeping.then(() => keepNow(source, button));
    return keeping;
  }

  async function keepNow(source, button) {
    const context = searchContext();
    try {
      const pack = await openPack();
      const highlights = (source.dataset.highlights || "").split(",").filter(Boolean)
        .map((span) => span.split("-").map(Number));
      const kept = await call("POST", `/packs/${pack.id}/items`, {
        doc_id: source.dataset.doc, start: Number(source.dataset.start),
        end: Number(source.dataset.end), question: context.question, mode: context.mode,
        highlights});
      keptKeys.add(passageKey(source));
      if (button) showKept(button, true);
      markKept();
      const count = `${kept.pack.count} passage${kept.pack.count === 1 ? "" : "s"}`;
      toast(kept.already
        ? `Already in “${kept.pack.name}” (${count}): a passage is kept once.`
        : `Kept in “${kept.pack.name}” (${count}). See the Evidence pack tab.`);
      refreshPack();
    } catch (error) {
      toast(`Not kept: ${error.message}`, true);
    }
  }

  // -- which passages the open pack holds: their Keep buttons say "Kept", after a reload too
  let keptKeys = new Set();
  let keptFor = null;  // the pack id keptKeys were read for
  const passageKey = (el) => `${el.dataset.doc}|${el.dataset.start}|${el.dataset.end}`;

  function showKept(button, kept) {
    button.textContent = kept ? "Kept" : "Keep";
    button.classList.toggle("kept", kept);
  }

  async function loadKept() {
    const id = openPackId();
    if (!id) { keptKeys = new Set(); keptFor = id; return; }
    try {
      const data = await call("GET", `/packs/${id}/kept`);
      keptKeys = new Set(data.passages.map(([doc, start, end]) => `${doc}|${start}|${end}`));
      keptFor = id;
    } catch (error) { keptKeys = new Set(); keptFor = null; }
  }

  function markKept() {
    document.querySelectorAll("#results article.hit").forEach((card) => {
      const button = card.querySelector("button.keep");
      if (button) showKept(button, keptKeys.has(passageKey(card)));
    });
    const view = document.querySelector("#reader .reader-view");
    const button = view && view.querySelector("button.reader-keep");
    if (button) showKept(button, keptKeys.has(passageKey(view)));
  }

  // Fresh result cards (Gradio replaces them) are marked once each, from the open pack.
  let markedStamp = null;
  new MutationObserver(() => {
    const results = document.querySelector("#results .results");
    const stamp = results ? results.dataset.stamp : null;
    if (!results || stamp === markedStamp) return;
    markedStamp = stamp;
    (keptFor === openPackId() && keptFor !== null ? Promise.resolve() : loadKept())
      .then(markKept);
  }).observe(document.documentElement, {childList: true, subtree: true});

  // -- the reader ------------------------------------------------------------------------
  function readerPanel() {
    let panel = document.getElementById("reader");
    if (!panel) {
      panel = document.createElement("div");
      panel.id = "reader";
      panel.setAttribute("role", "dialog");
      panel.setAttribute("aria-modal", "true");
      panel.setAttribute("aria-label", "Passage in its source");
      panel.hidden = true;
      document.body.appendChild(panel);
    }
    return panel;
  }

  let readerRequest = 0;  // only the latest request fills the reader (quick Next hit clicks)

  async function openReader(source, page) {
    const panel = readerPanel();
    const request = ++readerRequest;
    state.reader = source;
    const params = new URLSearchParams({doc: source.dataset.doc, start: source.dataset.start,
                                        end: source.dataset.end});
    if (page) params.set("page", String(page));
    if (source.dataset.item) params.set("item", source.dataset.item);
    panel.hidden = false;
    setBackground(true);
    panel.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(`/reader?${params}`);
      const html = await response.text();
      if (request !== readerRequest) return;
      if (!response.ok) {
        let reason = response.statusText;
        try { reason = JSON.parse(html).detail || reason; } catch (e) { /* not JSON */ }
        throw new Error(reason);
      }
      panel.innerHTML = html;  // built and escaped by the server
      const view = panel.querySelector(".reader-view");  // Keep here keeps the card's marks
      if (view && source.dataset.highlights) view.dataset.highlights = source.dataset.highlights;
    } catch (error) {
      panel.innerHTML = "";
      const note = document.createElement("p");
      note.className = "reader-note";
      note.textContent = `Could not open the passage: ${error.message}`;
      panel.appendChild(note);
    }
    panel.removeAttribute("aria-busy");
    const cards = siblings(state.card);
    const at = state.card ? cards.indexOf(state.card) : -1;
    panel.querySelectorAll(".reader-hit").forEach((b) => {
      const next = at + Number(b.dataset.step);
      b.disabled = at < 0 || next < 0 || next >= cards.length;
    });
    markKept();
    // Focus first, without scrolling: focusing the close button (at the top) used to scroll
    // the reader back up and push the mark off screen.
    const close = panel.querySelector(".reader-close");
    if (close && !page) close.focus({preventScroll: true});
    const mark = panel.querySelector("#passage");
    if (mark) mark.scrollIntoView({block: "center"});
    const image = panel.querySelector("img.reader-page-image");
    if (image && Number(image.dataset.markTop) > 0) {
      // the first marked line a third of the way down the reader (its box is known before
      // the image loads: width and height are set)
      const box = image.getBoundingClientRect();
      panel.scrollTop += box.top + box.height * Number(image.dataset.markTop)
        - panel.clientHeight / 3;
    } else if (page) {
      panel.scrollTop = 0;
    }
  }

  // While the reader is open the page behind it is inert: no clicks, no Tab stops, so the
  // keyboard stays in the dialog; closing gives the page back.
  function setBackground(inert) {
    const page = document.querySelector("gradio-app") || document.querySelector(".gradio-container");
    if (page) page.inert = inert;
  }

  // What Previous/Next hit steps through: the result cards, or the pack's passages when the
  // reader was opened from the Evidence pack tab (a removed document's passage is skipped).
  function siblings(card) {
    if (card && card.closest(".pack-view")) {
      return [...document.querySelectorAll(".pack-view .pack-item")]
        .filter((item) => item.querySelector("button.read"));
    }
    return [...document.querySelectorAll("#results article.hit")];
  }

  // The element holding a passage's doc/start/end: a result card, or a pack item's button.
  const readable = (card) => card.matches(".pack-item") ? card.querySelector("button.read") : card;

  function closeReader() {
    const panel = readerPanel();
    setBackground(false);
    panel.hidden = true;
    panel.innerHTML = "";
    if (state.card) {
      const read = state.card.querySelector("button.read");
      if (read) read.focus();
    }
    state.reader = null;
  }

  // -- the pack tab ----------------------------------------------------------------------
  async function refreshPack(offset) {
    const view = document.querySelector("#pack-tab");
    if (!view) return;
    const params = new URLSearchParams();
    if (openPackId()) params.set("pack", openPackId());
    if (offset) params.set("offset", String(offset));
    try {
      const response = await fetch(`/packs/view?${params}`);
      if (!response.ok) throw new Error(response.statusText);
      view.innerHTML = await response.text();  // built and escaped by the server
    } catch (error) {
      toast(`Could not show the pack: ${error.message}`, true);
      return;
    }
    const shown = view.querySelector(".pack-view");
    if (shown && shown.dataset.pack) setOpenPack(shown.dataset.pack);
    loadKept().then(markKept);  // a passage removed here shows Keep again on its card
    if (focusItem) {  // keep the keyboard where it was after ↑, ↓
      const item = view.querySelector(`.pack-item[data-item="${focusItem.id}"]`);
      const button = item && item.querySelector(focusItem.selector);
      if (button && !button.disabled) button.focus();
      else if (item) item.querySelector("button").focus();
      focusItem = null;
    }
  }

  let focusItem = null;

  function packView(element) {
    const view = element.closest(".pack-view");
    return {view, id: view ? view.dataset.pack : "",
            offset: view ? Number(view.dataset.offset || 0) : 0};
  }

  async function packAction(element) {
    const {view, id, offset} = packView(element);
    const item = element.closest(".pack-item");
    const itemUrl = item ? `/packs/${id}/items/${item.dataset.item}` : "";
    if (element.matches(".pack-create")) {
      const name = view.querySelector(".pack-new-name").value;
      const pack = await call("POST", "/packs", {name});
      setOpenPack(pack.id);
      toast(`Created “${pack.name}”: Keep adds passages to it.`);
    } else if (element.matches(".pack-rename")) {
      const name = window.prompt("New name for this pack:", view.dataset.name);
      if (name === null) return;
      await call("PATCH", `/packs/${id}`, {name});
    } else if (element.matches(".pack-delete")) {
      if (!window.confirm(`Delete the pack “${view.dataset.name}” and its ` +
                          `${view.dataset.count} passages?`)) return;
      await call("DELETE", `/packs/${id}`);
      setOpenPack("");
    } else if (element.matches(".pack-up, .pack-down")) {
      // a step from where the passage is now, so a tab showing an older order moves it right
      const step = element.matches(".pack-up") ? -1 : 1;
      await call("PATCH", itemUrl, {step});
      focusItem = {id: item.dataset.item, selector: step < 0 ? ".pack-up" : ".pack-down"};
    } else if (element.matches(".pack-remove")) {
      await call("DELETE", itemUrl);
    } else if (element.matches(".pack-page")) {
      return refreshPack(Number(element.dataset.offset));
    } else if (element.matches(".pack-copy")) {
      const response = await fetch(`/packs/${id}/export?format=txt`);
      if (!response.ok) throw new Error(`could not copy the pack (${response.statusText})`);
      await copyText(await response.text());
      toast("The pack is copied as text, with its citations.");
      return;
    }
    await refreshPack(offset);
  }

  // -- one listener per event kind -------------------------------------------------------
  document.addEventListener("click", async (event) => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    const copy = target.closest("button.copy-cite");
    if (copy) {
      await copyText(copy.dataset.cite);
      copy.textContent = "Copied";
      setTimeout(() => { copy.textContent = "Copy citation"; }, 1500);
      return;
    }
    const card = target.closest("#results article.hit");
    if (card && target.closest("button.keep")) return keep(card, target.closest("button"));
    if (card && target.closest("button.read")) {
      state.card = card;
      return openReader(card);
    }
    if (target.closest("#reader .reader-close")) return closeReader();
    if (target.closest("#reader .reader-keep") && state.reader) {
      return keep(readerPanel().querySelector(".reader-view"), target.closest("button"));
    }
    const turn = target.closest("#reader .reader-page");
    if (turn && state.reader) return openReader(state.reader, Number(turn.dataset.page));
    const step = target.closest("#reader .reader-hit");
    if (step && state.card) {
      const cards = siblings(state.card);
      const next = cards[cards.indexOf(state.card) + Number(step.dataset.step)];
      if (next) { state.card = next; return openReader(readable(next)); }
      return;
    }
    const packRead = target.closest(".pack-view button.read");
    if (packRead) {
      state.card = packRead.closest(".pack-item");
      return openReader(packRead);
    }
    const packButton = target.closest(".pack-view button");
    if (packButton) {
      try { await packAction(packButton); }
      catch (error) { toast(error.message, true); refreshPack(packView(packButton).offset); }
    }
  });

  document.addEventListener("change", async (event) => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    if (target.matches(".pack-view .pack-choice")) {
      setOpenPack(target.value);
      return refreshPack();
    }
    if (target.matches(".pack-view .pack-note textarea")) {
      const {id} = packView(target);
      const item = target.closest(".pack-item");
      try {
        // `was`: the note as this tab showed it; another tab's newer note is not overwritten
        await call("PATCH", `/packs/${id}/items/${item.dataset.item}`,
                   {note: target.value, was: target.defaultValue});
        target.defaultValue = target.value;
        toast("Note saved.");
      } catch (error) {
        toast(`Note not saved: ${error.message}`, true);
        if (error.status === 409) refreshPack(packView(target).offset);
      }
    }
  });

  // Back from another tab or window: show the pack as it is now (another tab may have
  // changed it), unless a note is being written here.
  document.addEventListener("visibilitychange", () => {
    const view = document.querySelector("#pack-tab .pack-view");
    if (document.visibilityState === "visible" && view && view.offsetParent !== null
        && !(document.activeElement && document.activeElement.matches("textarea"))) {
      refreshPack(Number(view.dataset.offset || 0));
    }
  });

  document.addEventListener("keydown", (event) => {
    const panel = readerPanel();
    if (event.key === "Escape" && !panel.hidden) closeReader();
    if (event.key === "Tab" && !panel.hidden) {  // Tab cycles within the open reader
      const stops = [...panel.querySelectorAll("button:not([disabled]), a[href]")];
      if (!stops.length) return;
      const first = stops[0], last = stops[stops.length - 1];
      const inside = panel.contains(document.activeElement);
      if (event.shiftKey && (document.activeElement === first || !inside)) {
        event.preventDefault(); last.focus();
      } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
        event.preventDefault(); first.focus();
      }
    }
  });

  // The pack tab fills itself when it first appears (Gradio renders tabs lazily); later
  // visits refresh it through the tab's select event, so the watch ends there.
  const firstFill = new MutationObserver(() => {
    const view = document.querySelector("#pack-tab");
    if (view && !view.dataset.filled) {
      view.dataset.filled = "1";
      firstFill.disconnect();
      refreshPack();
    }
  });
  firstFill.observe(document.documentElement, {childList: true, subtree: true});

  window.evidenceSearch = {refreshPack, openReader, closeReader};
})();
