// Text from employees and integrations, as the console shows it: bidi controls and invisible characters become
// small visible badges ("⟨U+202E⟩") instead of reordering or hiding the text around them, so "report\u202Eexe.txt"
// reads as report⟨U+202E⟩exe.txt, not as a spoofed "reporttxt.exe". The result is still only text nodes and
// <span>s built with el() (textContent): never HTML.
import { el } from "/static/common.js";

// C0 controls but tab, newline and CR; DEL and C1; ALM, zero-width space, LRM/RLM, line/paragraph separators,
// LRE..RLO, word joiner and invisible operators, LRI..PDI, deprecated format controls, BOM, interlinear
// annotations, tag characters, and lone surrogates. Zero-width joiners stay: emoji and some scripts need them.
const HIDDEN =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}\ud800-\udfff]/gu;

const NAMES = {
  "061C": "arabic letter mark",
  "200B": "zero-width space",
  "200E": "left-to-right mark",
  "200F": "right-to-left mark",
  "2028": "line separator",
  "2029": "paragraph separator",
  "202A": "left-to-right embedding",
  "202B": "right-to-left embedding",
  "202C": "pop directional formatting",
  "202D": "left-to-right override",
  "202E": "right-to-left override",
  "2066": "left-to-right isolate",
  "2067": "right-to-left isolate",
  "2068": "first strong isolate",
  "2069": "pop directional isolate",
  FEFF: "zero-width no-break space",
};

/** The code point of one hidden character as shown: "202E", "001B", "E0041". */
export function codeOf(char) {
  return char.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
}

function badge(char) {
  const code = codeOf(char);
  const name = NAMES[code] || (char.codePointAt(0) <= 0x9f ? "control character" : "invisible character");
  return el("span", { class: "hidden-char", title: `Hidden character U+${code}: ${name}`, text: `⟨U+${code}⟩` });
}

/**
 * `text` as children for el() / clear(): plain strings, with a badge <span> in place of each hidden character.
 * null and undefined give no children.
 */
export function visible(text) {
  if (text === null || text === undefined) return [];
  const value = String(text);
  const out = [];
  let last = 0;
  for (const match of value.matchAll(HIDDEN)) {
    if (match.index > last) out.push(value.slice(last, match.index));
    out.push(badge(match[0]));
    last = match.index + match[0].length;
  }
  if (last < value.length) out.push(value.slice(last));
  return out;
}

// -- rendered Markdown ------------------------------------------------------------------------------------------
// The server renders Markdown to HTML and sanitises it (firstline.service.markdown, nh3). The console still never
// puts that string into the page: it parses it in an inert document (DOMParser runs no scripts and loads nothing)
// and rebuilds only the elements and attributes below, with visible() on every text node, so a hidden character in
// a reply shows as a badge here too.
const RICH_TAGS = new Set([
  "p", "br", "strong", "em", "b", "i", "code", "pre", "ul", "ol", "li", "a", "blockquote", "hr",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del", "s",
]);
const SAFE_HREF = /^(https?:|mailto:|\/(?!\/)|#)/i;

function rebuild(node, into) {
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) {
      into.append(...visible(child.textContent).map((n) => (typeof n === "string" ? document.createTextNode(n) : n)));
      continue;
    }
    if (child.nodeType !== Node.ELEMENT_NODE) continue;
    const tag = child.tagName.toLowerCase();
    if (!RICH_TAGS.has(tag)) {
      if (tag !== "script" && tag !== "style") rebuild(child, into); // keep the text of anything else
      continue;
    }
    const copy = document.createElement(tag);
    if (tag === "a") {
      const href = (child.getAttribute("href") || "").trim();
      if (SAFE_HREF.test(href)) {
        copy.setAttribute("href", href);
        copy.setAttribute("rel", "noopener noreferrer nofollow");
        if (!href.startsWith("#") && !href.startsWith("/")) copy.setAttribute("target", "_blank");
      }
    }
    if (tag === "ol" && /^\d+$/.test(child.getAttribute("start") || "")) copy.setAttribute("start", child.getAttribute("start"));
    rebuild(child, copy);
    into.append(copy);
  }
}

/** Sanitised HTML from the server as a <div class="md"> of rebuilt elements; null when `html` is empty. */
export function richText(html) {
  if (typeof html !== "string" || !html.trim()) return null;
  const parsed = new DOMParser().parseFromString(html, "text/html");
  const out = document.createElement("div");
  out.className = "md";
  rebuild(parsed.body, out);
  return out;
}
