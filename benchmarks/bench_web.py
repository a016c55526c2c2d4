"""Web page timings in a real browser (Debian Chromium via Playwright):

1. start-up: from launching `python app.py` over an existing index to a page that has answered
   a question;
2. the median (and p90) time from the Enter key press to the result cards painted, over 20
   questions with 5 results, timed inside the page (keydown to the second animation frame
   after the cards appear: what a person sees), beside the time the search itself takes in
   the library for the same questions (the rest is Gradio's round trip and rendering);
3. the reader: from a click on "Read in context" (then on "Next hit" inside the reader) to the
   PDF page image with the passage marked decoded and painted, over real PDFs added to the
   corpus (timed inside the page the same way);
4. keeping a passage: from the click on Keep to the pack's confirmation on screen.

2 and 3 run at each window width asked (--widths, default 1280 px and a 400 px phone): the
narrow layout must be as quick as the wide one. --questions and --reader-questions shorten a
run (a quick check that it works: --questions 3 --reader-questions 1).

    python benchmarks/bench_web.py [--screenshot docs/screenshot.png] [--widths 1280,400]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, ask, free_port  # noqa: E402
from tests.conftest import SHARED  # noqa: E402

# Armed before Enter is pressed: resolves with milliseconds from the keydown to the second
# frame painted after the cards for this question appear.
PAINT_JS = """(q) => { window.__painted = new Promise(resolve => {
  const target = document.querySelector('#results');
  const before = target.querySelector('.results')?.dataset.stamp || '';
  let pressed = 0;
  document.querySelector('#question textarea').addEventListener('keydown', e => {
    if (e.key === 'Enter') pressed = performance.now(); }, {once: true});
  const watch = new MutationObserver(() => {
    const r = target.querySelector('.results');
    if (pressed && r && r.dataset.question === q && r.dataset.stamp !== before
        && r.querySelector('article.hit')) {
      watch.disconnect();
      requestAnimationFrame(() => requestAnimationFrame(
        () => resolve(performance.now() - pressed)));
    }
  });
  watch.observe(target, {childList: true, subtree: true, attributes: true});
}); }"""


def painted_ms(page: object, question: str) -> float:
    """Enter to cards painted, measured by the page's own clock."""
    box = page.locator("#question textarea")  # type: ignore[attr-defined]
    box.fill(question)
    page.evaluate(PAINT_JS, " ".join(question.split()))  # type: ignore[attr-defined]
    box.press("Enter")
    return float(page.evaluate("() => window.__painted"))  # type: ignore[attr-defined]


# Armed before a reader button is clicked: milliseconds from the click to the second frame
# after a new page image (decoded) is in the reader.
READER_JS = """(selector) => { window.__read = new Promise(resolve => {
  const old = document.querySelector('#reader img.reader-page-image');
  const clicked = performance.now();
  const watch = new MutationObserver(async () => {
    const img = document.querySelector('#reader img.reader-page-image');
    if (!img || img === old) return;
    watch.disconnect();
    await img.decode();
    const note = document.querySelector('#reader .reader-note');
    const marked = !!note && note.textContent.includes('marked in yellow');
    requestAnimationFrame(() => requestAnimationFrame(
      () => resolve({ms: performance.now() - clicked, marked})));
  });
  watch.observe(document.body, {childList: true, subtree: true});
  document.querySelector(selector).click();
}); }"""

KEEP_JS = """() => new Promise(resolve => {
  const toast = document.getElementById('evidence-toast');
  const before = toast ? toast.textContent : '';
  const clicked = performance.now();
  const watch = new MutationObserver(() => {
    const now = document.getElementById('evidence-toast');
    if (now && !now.hidden && now.textContent !== before && now.textContent.startsWith('Kept')) {
      watch.disconnect();
      requestAnimationFrame(() => resolve(performance.now() - clicked));
    }
  });
  watch.observe(document.body, {childList: true, subtree: true, characterData: true});
  const buttons = [...document.querySelectorAll('#results button.keep:not(.kept)')];
  buttons[0].click();
})"""

READER_PDFS = ["pypdf-resources/GeoBase_NHNC1_Data_Model_UML_EN.pdf",
               "pypdf-resources/Seige_of_Vicksburg_Sample_OCR.pdf"]
READER_QUESTIONS = ["data model of the hydro network", "water bodies and watercourses",
                    "the siege of Vicksburg", "Confederate army surrender"]


WINDOW_HEIGHTS = {400: 800}  # a phone's window; wider ones are 900 px high


def reader_ms(page: object, url: str,
              questions: list[str] = READER_QUESTIONS) -> list[tuple[float, bool]]:
    """Open the reader on the first PDF hit of each question, then step through the others
    with Next hit: each step renders and marks a page. (milliseconds, passage marked)."""
    out: list[tuple[float, bool]] = []
    for question in questions:
        page.goto(url + "?" + urlencode({"q": question, "k": 8,  # type: ignore[attr-defined]
                                         "docs": ",".join(f"corpus/pdfs/{Path(p).name}"
                                                          for p in READER_PDFS)}))
        page.wait_for_selector("#results article.hit")  # type: ignore[attr-defined]
        page.evaluate(READER_JS, "#results article.hit footer button.read")  # type: ignore
        out.append(read_result(page))
        while page.locator(  # type: ignore[attr-defined]
                "#reader button.reader-hit[data-step='1']:not([disabled])").count():
            page.evaluate(READER_JS, "#reader button.reader-hit[data-step='1']")  # type: ignore
            out.append(read_result(page))
        page.keyboard.press("Escape")  # type: ignore[attr-defined]
    return out


def screenshots(page: object, url: str, path: Path) -> None:
    """The README's pictures: results (path), the reader on a PDF page (path-reader.png) and
    an evidence pack with notes (path-pack.png)."""
    pg: Any = page
    pg.goto(url)
    pg.wait_for_selector("#question textarea")
    question = "What peer support do Met officers get after a traumatic incident?"
    ask(pg, question)
    pg.wait_for_timeout(1000)  # let the fade-in finish
    pg.screenshot(path=str(path))
    pg.evaluate("() => localStorage.removeItem('evidence-search-pack')")
    created = pg.evaluate("""async () => {
      const r = await fetch('/packs', {method: 'POST', headers: {'Content-Type':
        'application/json'}, body: JSON.stringify({name: 'Briefing: peer support'})});
      const pack = await r.json();
      localStorage.setItem('evidence-search-pack', String(pack.id)); return pack.id; }""")
    assert created
    for n in (0, 1):
        pg.locator("#results article.hit").nth(n).locator("button.keep").click()
        pg.wait_for_selector(f"#results article.hit:nth-of-type({n + 1}) button.keep.kept")
    pg.get_by_role("tab", name="Evidence pack").click()
    note = pg.locator("#pack-tab .pack-item").first.locator("textarea")
    note.fill("Lead example for the committee: peer support with early debriefing.")
    note.blur()
    pg.wait_for_timeout(600)
    pg.screenshot(path=str(path.with_name(path.stem + "-pack.png")))
    pg.get_by_role("tab", name="Ask").click()
    pg.goto(url + "?" + urlencode({"q": "why did the city surrender after the siege", "k": 5,
                                   "docs": f"corpus/pdfs/{Path(READER_PDFS[1]).name}"}))
    pg.wait_for_selector("#results article.hit")
    pg.locator("#results article.hit").first.locator("footer button.read").click()
    pg.wait_for_selector("#reader img.reader-page-image")
    pg.wait_for_timeout(500)
    pg.screenshot(path=str(path.with_name(path.stem + "-reader.png")))


def read_result(page: object) -> tuple[float, bool]:
    done = page.evaluate("() => window.__read")  # type: ignore[attr-defined]
    return float(done["ms"]), bool(done["marked"])


def library_ms(index_dir: Path, questions: list[str]) -> list[float]:
    """The same questions through `Index.search` in this process (warm), for the split."""
    from search import Index

    index = Index(index_dir)
    index.search(questions[0], k=5)
    out = []
    for q in questions:
        t = time.perf_counter()
        index.search(q, k=5)
        out.append((time.perf_counter() - t) * 1000)
    return out


QUESTIONS = [json.loads(line)["question"] for line in
             (ROOT / "eval" / "corpus_queries.jsonl").read_text().splitlines()[:20]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "bench" / "web.json")
    parser.add_argument("--widths", default="1280,400",
                        help="window widths in px to time searching and the reader at")
    parser.add_argument("--questions", type=int, default=len(QUESTIONS))
    parser.add_argument("--reader-questions", type=int, default=len(READER_QUESTIONS))
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    questions = QUESTIONS[:max(1, args.questions)]
    reader_questions = READER_QUESTIONS[:max(1, args.reader_questions)]
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    shutil.copytree(ROOT / "corpus", work / "corpus")
    (work / "corpus" / "pdfs").mkdir()
    for pdf in READER_PDFS:
        shutil.copy(SHARED / "pdfs" / pdf, work / "corpus" / "pdfs" / Path(pdf).name)
    subprocess.run([sys.executable, "-m", "search", "index", str(work / "corpus"), "--index",
                    str(work / "index"), "-q"], check=True, cwd=ROOT)
    work_index = work / "index"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--corpus",
                             str(work / "corpus"), "--index", str(work / "index")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ.copy())
    try:
        while True:
            try:
                urllib.request.urlopen(url, timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        served = time.perf_counter() - started
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1200, "height": 1100})
            page.goto(url)
            page.wait_for_selector("#question textarea")
            ask(page, questions[0])
            answered = time.perf_counter() - started
            page.evaluate("() => { localStorage.removeItem('evidence-search-pack'); }")
            keeps = []
            for q in questions[:10]:
                ask(page, q)
                keeps.append(float(page.evaluate(KEEP_JS)))
            per_width = {}
            for width in widths:
                sized = browser.new_page(viewport={"width": width,
                                                   "height": WINDOW_HEIGHTS.get(width, 900)})
                sized.goto(url)
                sized.wait_for_selector("#question textarea")
                ask(sized, questions[0])  # warm: the first answer also loads the page's parts
                times = sorted(painted_ms(sized, q) for q in questions)
                reads = reader_ms(sized, url, reader_questions)
                sized.close()
                per_width[width] = (times, reads)
            if args.screenshot:
                screenshots(page, url, args.screenshot)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    search = sorted(library_ms(work_index, questions))
    result: dict[str, Any] = {"seconds_to_serving": round(served, 2),
                              "seconds_to_first_answer": round(answered, 2),
                              "search_in_library_ms_median": round(statistics.median(search), 1),
                              "questions": len(questions),
                              "keep_to_confirmed_ms_median": round(statistics.median(keeps), 1)}
    for width, (times, reads) in per_width.items():
        read_ms = sorted(ms for ms, _ in reads)
        result[f"at_{width}px"] = {
            "enter_to_cards_painted_ms_median": round(statistics.median(times), 1),
            "enter_to_cards_painted_ms_p90": round(times[int(0.9 * (len(times) - 1))], 1),
            "reader_pdf_page_marked_ms_median": round(statistics.median(read_ms), 1),
            "reader_pdf_page_marked_ms_p90": round(read_ms[int(0.9 * (len(read_ms) - 1))], 1),
            "reader_opens": len(reads),
            "reader_opens_with_the_passage_marked": sum(m for _, m in reads)}
    shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        for name, number in (value.items() if isinstance(value, dict) else [("", value)]):
            print(f"{key + (' ' + name if name else ''):>45}: {number}")


if __name__ == "__main__":
    main()
