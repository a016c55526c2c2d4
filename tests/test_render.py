"""The result list's pure parts: grouping hits by document, the grouped page."""

from __future__ import annotations

from search.records import Hit
from search.web.render import group_by_document, results_html


def hit(rank: int, doc: str, title: str) -> Hit:
    return Hit(text=f"passage {rank}", score=1.0 / rank, doc_id=doc, title=title, path=doc,
               page=None, section="", start=0, end=9, citation=title, rank=rank)


def test_groups_follow_each_documents_best_hit_and_keep_ranks():
    hits = [hit(1, "b.txt", "B"), hit(2, "a.txt", "A"), hit(3, "b.txt", "B"),
            hit(4, "c.txt", "<C>")]
    groups = group_by_document(hits)
    assert [[h.rank for h in g] for g in groups] == [[1, 3], [2], [4]]
    page = results_html(hits, "q", grouped=True)
    assert page.count('class="doc-group"') == 3
    assert "B <span class=\"count\">2 passages</span>" in page
    assert "A <span class=\"count\">1 passage</span>" in page
    assert "&lt;C&gt;" in page and "<C>" not in page  # titles escaped
    assert "4 passages for “q”, best first, from 3 documents" in page
    assert 'class="doc-group"' not in results_html(hits, "q")


def test_examples_come_from_headings_questions_first_each_document_in_turn():
    from search.web.app import example_questions

    headings = [
        ("a", "1. What support do crews get after a fatal incident?"),
        ("a", "Contents"),
        ("a", "Wellbeing support vehicles"),
        ("b", "2. How are control room staff rostered across the week, what breaks do they get "
              "between calls and when are they taken?"),
        ("b", "Peer support volunteers"),
        ("b", "ANNEX B"),
        ("a", "Wellbeing support vehicles"),
    ]
    assert example_questions(headings, 4) == [
        "What support do crews get after a fatal incident?",
        "How are control room staff rostered across the week?",
        "Wellbeing support vehicles",
        "Peer support volunteers",
    ]
    assert example_questions([], 5) == []


def test_examples_are_topics_not_names_and_their_labels_end_at_a_word():
    from search.web.links import example_label, example_questions

    headings = [("letter", "Steve O'Connell AM"), ("letter", "Dr Ana Ruiz"),
                ("letter", "City Hall, Kamal Way, London E16 1ZE"),
                ("letter", "Metropolitan Police Service"),
                ("letter", "Training for new officers"),
                ("report", "Does the service have examples of effective approaches it has "
                           "adopted to support its staff experiencing mental health "
                           "challenges, what worked?")]
    chosen = example_questions(headings, 5)
    assert chosen == ["Does the service have examples of effective approaches it has adopted "
                      "to support its staff experiencing mental health challenges?",
                      "Training for new officers", "Metropolitan Police Service"]
    label = example_label(chosen[0])
    assert label.endswith("…") and len(label) <= 60
    words = chosen[0].split()
    assert label[:-1].split() == words[:len(label[:-1].split())]  # whole words only
    assert example_label("Training for new officers") == "Training for new officers"


def test_csv_defuses_formulas_in_every_text_cell():
    import csv
    import io

    from search.web.render import to_csv

    bad = Hit(text="-2+3", score=1.0, doc_id="a.txt", title="=HYPERLINK(\"http://x\")",
              path="a.txt", page=1, section="@SUM(A1)", start=0, end=4,
              citation="+cmd|' /C calc'!A0", rank=1)
    row = list(csv.DictReader(io.StringIO(to_csv([bad]))))[0]
    for column in ("text", "title", "section", "citation"):
        assert row[column].startswith("'"), column
    assert row["rank"] == "1" and row["page"] == "1"  # numbers stay numbers


def test_a_card_names_its_passage_for_keep_and_the_reader():
    card = results_html([hit(1, "corpus/a b.txt", "A")], "q")
    assert 'data-doc="corpus/a b.txt" data-start="0" data-end="9"' in card
    assert 'class="keep"' in card and 'class="citation read"' in card


def test_the_result_list_markdown_keeps_document_markup_inert():
    from search.web.render import to_markdown

    hostile = Hit(text="Fine words\n# Heading\n<script>alert(1)</script> [x](javascript:alert(1))",
                  score=1.0, doc_id="a.md", title="T", path="a.md", page=None, section="",
                  start=0, end=5, citation="T — <img src=x onerror=alert(1)>", rank=1)
    markdown = to_markdown([hostile], "why <b>?", "hybrid")
    assert "<script>" not in markdown and "<img" not in markdown and "<b>" not in markdown
    assert "\n# Heading" not in markdown and "[x](javascript" not in markdown
    body = markdown.split("## 1.", 1)[1]
    quoted = body.splitlines()[2:5]
    assert all(line.startswith(">") for line in quoted)  # the passage cannot leave its quote


def test_a_card_holds_the_whole_citation_and_only_css_shortens_it():
    long = ("Report — 2. Does the MPS have examples of effective approaches it has adopted to "
            "support its staff experiencing mental health challenges?")
    card = results_html([Hit(text="p", score=1.0, doc_id="a", title="Report", path="a",
                             page=None, section="", start=0, end=1, citation=long, rank=1)], "q")
    assert card.count(long) == 2  # the button's text and what Copy citation copies
    # (that the card shows it shortened is tests/browser/test_citations.py's to check)
