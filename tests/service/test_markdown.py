"""firstline.service.markdown.render: Markdown becomes HTML, and nothing from the text can run in the page."""

from __future__ import annotations

import re

import pytest

from firstline.service.markdown import ALLOWED_TAGS, render

LINK = 'target="_blank" rel="noopener noreferrer"'


def _tags(html: str) -> set[str]:
    return {m.lower() for m in re.findall(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9]*)", html)}


def test_lists_render_as_lists() -> None:
    html = render("Try this:\n\n- restart the VPN client\n- sign in again\n\n1. first\n2. second")
    assert "<ul>\n<li>restart the VPN client</li>\n<li>sign in again</li>\n</ul>" in html
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in html
    assert "- restart" not in html


def test_an_ordered_list_keeps_its_start_number() -> None:
    assert '<ol start="3">' in render("3. third\n4. fourth")


def test_emphasis_code_and_code_blocks() -> None:
    html = render("**Bold**, *italic* and `ipconfig /all`\n\n```\nping 10.0.0.1 -t\nx < y\n```")
    assert "<strong>Bold</strong>" in html
    assert "<em>italic</em>" in html
    assert "<code>ipconfig /all</code>" in html
    assert "<pre><code>ping 10.0.0.1 -t\nx &lt; y\n</code></pre>" in html


def test_single_newlines_are_line_breaks() -> None:
    assert render("line one\nline two") == "<p>line one<br>\nline two</p>"


def test_markdown_links_open_in_a_new_tab_without_the_opener() -> None:
    html = render('See [the VPN guide](https://intranet.example.com/vpn "VPN") for details.')
    assert f'<a href="https://intranet.example.com/vpn" title="VPN" {LINK}>the VPN guide</a>' in html


def test_bare_links_become_clickable() -> None:
    html = render("Reset it yourself at aka.ms/sspr, or https://portal.example.com/reset?u=1.")
    assert f'<a href="https://aka.ms/sspr" {LINK}>aka.ms/sspr</a>,' in html
    assert f'<a href="https://portal.example.com/reset?u=1" {LINK}>https://portal.example.com/reset?u=1</a>.' in html


def test_bare_links_keep_balanced_brackets_and_leave_the_sentence_alone() -> None:
    html = render("(see https://en.example.org/wiki/VPN_(network)) and www.example.com")
    assert f'<a href="https://en.example.org/wiki/VPN_(network)" {LINK}>' in html
    assert html.count("</a>)") == 1
    assert f'<a href="https://www.example.com" {LINK}>www.example.com</a>' in html


def test_addresses_file_names_and_existing_links_are_not_linkified_again() -> None:
    html = render("Mail ruby.chen@nwmeridian.co.uk, open vpn-setup.md, or [aka.ms/sspr](https://aka.ms/sspr)")
    assert "ruby.chen@nwmeridian.co.uk" in html and "mailto:" not in html
    assert "vpn-setup.md" in html
    assert html.count("<a ") == 1


def test_headings_move_down_to_fit_inside_a_message() -> None:
    html = render("# Steps\n## Details\n###### Deepest")
    assert "<h3>Steps</h3>" in html and "<h4>Details</h4>" in html and "<h6>Deepest</h6>" in html
    assert "<h1" not in html and "<h2" not in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">click</a>',
        "<svg onload=alert(1)>",
        "<iframe src=https://evil.example.com></iframe>",
        '<p style="background:url(javascript:alert(1))" onclick="alert(1)">hi</p>',
        "<!-- <script>alert(1)</script> -->",
        "<div>\n<script>alert(1)</script>\n</div>",
    ],
)
def test_raw_html_in_the_markdown_is_shown_as_text(hostile: str) -> None:
    html = render(hostile)
    assert _tags(html) <= {"p", "br", "a"}, html  # "a": a bare https:// address in it is still a link
    markup = " ".join(re.findall(r"<[^>]*>", html)).lower()  # the tags themselves, not the text between them
    for bad in ("<script", "<img", "<svg", "<iframe", "<div", "onload", "onerror", "onclick", "style", "javascript"):
        assert bad not in markup, html
    assert "&lt;" in html  # the person sees what was written


@pytest.mark.parametrize(
    "link",
    [
        "[click](javascript:alert(1))",
        "[click](JAVASCRIPT:alert(1))",
        "[click](java\nscript:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "<javascript:alert(1)>",
        "<data:text/html,<script>alert(1)</script>>",
        "javascript:alert(1)//example.com/x",
        "[x](file:///etc/passwd)",
    ],
)
def test_dangerous_link_schemes_never_become_links(link: str) -> None:
    html = render(link)
    for href in re.findall(r'href="([^"]*)"', html):
        assert re.match(r"(https?|mailto):", href), href
    assert "javascript:" not in re.sub(r">[^<]*<", "><", html).lower()  # only in text, never in an attribute


def test_images_show_their_alt_text_and_load_nothing() -> None:
    html = render("![tracking](https://evil.example.com/pixel.png) ![x](data:image/png;base64,AAAA)")
    assert "<img" not in html
    assert "tracking" in html and "pixel.png" not in html


def test_event_handler_attributes_cannot_be_smuggled_through_a_title() -> None:
    html = render('[ok](https://example.com "a\\" onmouseover=\\"alert(1)")')
    anchor = re.search(r"<a [^>]*>", html)
    assert anchor is not None
    attributes = set(re.findall(r'\s([a-z-]+)="', anchor.group(0)))
    assert attributes <= {"href", "title", "target", "rel"}


def test_mailto_links_are_kept() -> None:
    assert '<a href="mailto:it@example.com"' in render("<it@example.com>")


def test_only_allowed_tags_ever_come_out() -> None:
    text = "\n\n".join(
        [
            "# h\n> quote\n\n---\n\n- a\n  1. b",
            "`c` **d** *e* [f](https://g.example.com)",
            "<b>x</b><table><tr><td>y</td></tr></table><style>p{}</style><form action=x><input></form>",
        ]
    )
    assert _tags(render(text)) <= ALLOWED_TAGS


def test_empty_text_is_empty_html() -> None:
    assert render("") == ""


def test_documents_keep_wrapped_lines_as_one_paragraph() -> None:
    assert render("a wrapped\nline", line_breaks=False) == "<p>a wrapped\nline</p>"
    assert f'<a href="https://aka.ms/sspr" {LINK}>' in render("go to\naka.ms/sspr", line_breaks=False)


def test_runbook_paths_in_a_reply_link_to_the_runbook_page() -> None:
    html = render("3 more steps in the full runbook section (/kb/d9eaf2618d19311c8cc#steps).")
    assert f'(<a href="/kb/d9eaf2618d19311c8cc#steps" {LINK}>/kb/d9eaf2618d19311c8cc#steps</a>).' in html
    assert "<a" not in render("not a page: /etc/kb/x or docs/kb/y")
