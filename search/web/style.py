"""How the page looks and what runs in the browser around Gradio: the help text, the style
sheet, the theme, and the scripts (page.js for copy, keep, the reader and the pack tab; the
address kept in step with the search; fresh results scrolled into view on a phone)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

HELP = (
    "**strong match**: the passage is closely about your question (check that it states "
    "what you need) · **possible match**: it may answer, read it · **weak match**: the "
    "closest passage, probably not an answer. The percentage beside it is how likely the "
    "passage is to answer, as estimated from questions people checked. "
    "**from OCR**: read from a scanned page, check the quote against the page. "
    "Marked sentences are the ones that answer. Click a citation to read the passage in its "
    "source; **Keep** adds it to your evidence pack (the Evidence pack tab exports it with "
    "citations). Modes: *hybrid* (default) weighs meaning and "
    "exact words per question; *semantic* matches meaning only; *lexical* exact words only. "
    "The address bar holds your search with its options: copy it to share the search.")

CSS = """
#results .hit {border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 12px 14px; margin: 10px 0; background: var(--background-fill-primary);}
#results .hit.weak {opacity: .85; border-style: dashed;}
#results .hit header {display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap;}
#results .rank {font-weight: 700; min-width: 1.5em;}
#results .citation {font-weight: 600; flex: 1;}
#results .score {font-size: .85em; color: #4a4a4a;}  /* 8.9:1 on white (WCAG AA: 4.5) */
#results .score.strong {color: #1b6e20; font-weight: 600;}
#results .score.possible {color: #7a5200;}
#results .ocr {font-size: .8em; margin-left: .5em; padding: 0 .4em; border-radius: 3px;
  background: #fff4d6; color: #5c3d00; border: 1px solid #c99a2e;}
#results .passage {white-space: pre-wrap; margin: 8px 0; line-height: 1.5;}
#results mark.answer {background: #fff3b0; color: inherit; padding: 0 1px;}
#results mark.answer.best {background: #ffe066;}
#results mark.closest {background: none; color: inherit; border-bottom: 2px dotted #8a8a8a;}
#results footer, .pack-item footer {display: flex; gap: 10px; align-items: center;
  flex-wrap: wrap; font-size: .9em;}
#results footer button, .pack-view button, #reader button {font: inherit; font-size: .9em;
  padding: 3px 10px; border-radius: 6px; border: 1px solid #8a8a8a;
  background: var(--background-fill-secondary, #f4f4f5); color: inherit; cursor: pointer;}
#reader button:hover, .pack-view button:hover, #results footer button:hover
  {border-color: #4a4a4a;}
#reader button:disabled {opacity: .5; cursor: default;}
#results button.keep, #reader button.keep {border-color: #1b6e20; color: #1b6e20;
  font-weight: 700;}
#results button.keep.kept, #reader button.keep.kept {background: #e5f3e6;}
#results button.citation {all: unset; font-weight: 700; flex: 1; cursor: pointer;
  color: inherit; text-decoration: underline; text-decoration-color: #9a9a9a;
  text-underline-offset: 3px;
  /* two lines at most on the card, cut visually: the text (and what is copied) is whole */
  display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 2;
  line-clamp: 2; overflow: hidden;}
#results button.citation:hover {text-decoration-color: currentColor;}
button:focus-visible, a:focus-visible {outline: 3px solid #1a5fb4 !important;
  outline-offset: 2px;}
#results .notice {padding: 10px 14px; border-radius: 8px; margin: 8px 0;}
#results .weak-notice {background: #fff4e5; border: 1px solid #f0a040; color: #6b3d00;}
#results .summary {color: #4a4a4a; font-size: .9em;}
#results .doc-group {margin: 1em 0 1.5em;}
#results .doc-group h3 {margin: .2em 0 .5em; font-size: 1.05em;}
#results .doc-group .count {font-weight: normal; color: #4a4a4a; font-size: .85em;}
.index-panel table {border-collapse: collapse;} .index-panel td, .index-panel th
  {padding: 2px 10px 2px 0; text-align: left; vertical-align: top;}
.index-panel td code {word-break: break-all;}  /* long ids wrap instead of being cut */
#reader, #evidence-toast {font-family: "Source Sans Pro", ui-sans-serif, system-ui,
  sans-serif;}
#reader {position: fixed; top: 0; right: 0; bottom: 0; width: min(960px, 100vw);
  box-sizing: border-box;  /* the padding inside the width: nothing starts off screen */
  overflow-y: auto; z-index: 1000; background: var(--background-fill-primary, #fff);
  color: var(--body-text-color, #1f1f1f); box-shadow: -4px 0 24px rgba(0,0,0,.25);
  padding: 16px 20px;}
#reader header {display: flex; gap: 12px; align-items: flex-start;}
#reader .reader-title {flex: 1; margin: 0; font-size: 1.1em;}
#reader .reader-bar, #reader .reader-pages {display: flex; gap: 10px; align-items: center;
  flex-wrap: wrap; margin: 10px 0;}
#reader .reader-close {font-size: 1.3em; line-height: 1;}
#reader .reader-note, #reader .reader-section {color: #4a4a4a; font-size: .9em;}
#reader img.reader-page-image {max-width: 100%; height: auto; border: 1px solid #ccc;}
/* room below the text, so a passage at the end of its section can still be scrolled up to
   the middle of the reader instead of sitting at the bottom edge */
#reader .reader-text {line-height: 1.55; max-width: 46em; padding-bottom: 40vh;}
#reader mark.passage {background: #ffe066; color: inherit; padding: 1px 0;}
/* In the bottom right corner, clear of the cards' controls (they sit left), and never in
   the way of a click. */
#evidence-toast {position: fixed; bottom: 16px; right: 16px; z-index: 1100;
  background: #1f3d20; color: #fff; padding: 10px 16px; border-radius: 8px;
  max-width: min(20em, calc(100vw - 32px)); box-sizing: border-box; pointer-events: none;
  box-shadow: 0 2px 12px rgba(0,0,0,.3);}
#evidence-toast.failed {background: #7a1010;}
.pack-view .pack-bar {display: flex; gap: 10px; align-items: center; flex-wrap: wrap;
  margin: 8px 0;}
.pack-view select, .pack-view input, .pack-view textarea {border: 1px solid #8a8a8a;
  border-radius: 6px; padding: 3px 6px; background: var(--background-fill-primary);
  color: inherit; font: inherit;}
.pack-view .pack-items {padding-left: 1.6em;}
.pack-view .pack-item {border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 10px 14px; margin: 10px 0;}
.pack-view .citation {font-weight: 700;}
.pack-view blockquote.passage {white-space: pre-wrap; margin: 8px 0; padding-left: 12px;
  border-left: 3px solid #c9c9c9;}
.pack-view .pack-meta {color: #4a4a4a; font-size: .85em; margin: 4px 0;}
.pack-view .pack-note {display: block; font-size: .9em;}
.pack-view .pack-note textarea {width: 100%; display: block; margin: 4px 0 8px;}
.pack-view .pack-status {background: #fff4e5; border: 1px solid #f0a040; color: #6b3d00;
  padding: 4px 8px; border-radius: 6px; font-size: .9em;}
.pack-view .pack-item.document {border-style: dashed;}
.pack-view a.export {margin: 0 4px; white-space: nowrap;}
.pack-view .pack-pager {display: flex; gap: 12px; align-items: center; margin: 10px 0;}
.contents details {margin: 4px 0;} .contents summary {cursor: pointer;}
.contents .count {color: #4a4a4a; font-size: .85em;}
.contents ul.sections {list-style: none; padding-left: 1em; margin: 4px 0 10px;}
/* Narrow screens (a phone, 400 px): the question takes the whole width above its button. */
@media (max-width: 640px) {
  #ask-row {flex-wrap: wrap;}
  #ask-row > * {flex: 1 1 100% !important; min-width: 100% !important;}
  /* touch targets of at least 44 px, with text as large as the page's */
  #results footer button, #results footer a, .pack-view button, .pack-view a.export
    {min-height: 44px; min-width: 44px; font-size: 16px; padding: 6px 12px;
    box-sizing: border-box; display: inline-flex; align-items: center;
    justify-content: center;}
  .pack-view a.export {border: 1px solid #8a8a8a; border-radius: 6px; margin: 0;}
  /* the documents table as one block per document: the id gets the whole width */
  .index-panel table, .index-panel tbody, .index-panel tr, .index-panel td {display: block;}
  .index-panel tr:first-child {display: none;}
  .index-panel tr {border-bottom: 1px solid var(--border-color-primary, #ddd);
    padding: 6px 0;}
  .index-panel td {padding: 1px 0;}
  .index-panel td:nth-child(2), .index-panel td:nth-child(3) {display: inline;}
  .index-panel td:nth-child(2)::before {content: "Pages: ";}
  .index-panel td:nth-child(3)::before {content: " · Passages: ";}
}
"""

# The reader and the toast live outside Gradio's container, where Gradio's handling of the
# style sheet leaves @media rules unapplied: their narrow-screen rules go in the page head.
HEAD_CSS = """
@media (max-width: 640px) {
  #reader button, #reader a.source {min-height: 44px; min-width: 44px; font-size: 16px;
    padding: 6px 12px; box-sizing: border-box; display: inline-flex; align-items: center;
    justify-content: center;}
  #reader {padding: 12px;}
}
"""

# The page's behaviour around Gradio (copy, keep, the reader, the pack tab): one script.
PAGE_JS = (Path(__file__).with_name("page.js")).read_text(encoding="utf-8")

# Gradio's bundled Source Sans Pro SemiBold holds only a few glyphs ("A", "B"), so text at
# weight 600 mixed two fonts ("Assembly" with a foreign "A"): load the complete Bold instead.
THEME = gr.themes.Default(font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)),
                                "ui-sans-serif", "system-ui", "sans-serif"])


# Keeps the address in step with the search on screen, so it can be pasted into a briefing.
LINK_JS = """(q, k, mode, docs, grouped, section) => {
  const url = new URL(window.location.href);
  const text = (q || "").trim();
  if (!text) return [];
  url.searchParams.set("q", text);
  url.searchParams.set("k", String(k));
  url.searchParams.set("mode", mode);
  url.searchParams.delete("docs");  // one docs= per document: an id may hold a comma
  for (const doc of docs || []) url.searchParams.append("docs", doc);
  if (section && section.trim()) url.searchParams.set("section", section.trim());
  else url.searchParams.delete("section");
  if (grouped) url.searchParams.set("group", "1");
  else url.searchParams.delete("group");
  window.history.replaceState(null, "", url.toString());
  return [];
}"""


# On a narrow screen the controls push the results below the fold: bring fresh ones into view.
SCROLL_JS = """() => {
  if (window.innerWidth > 640) return [];
  const results = document.querySelector('#results .results, #results .notice');
  if (results) results.scrollIntoView({block: 'start'});
  return [];
}"""
