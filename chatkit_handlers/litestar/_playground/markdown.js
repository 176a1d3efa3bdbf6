// A small, safe Markdown subset for Markdown components and assistant messages:
// paragraphs, headings, bullet and numbered lists, fenced code, and inline **bold**,
// *italic*, `code` and [links](https://...). The result is DOM built with
// createElement/textContent: the source is never parsed as HTML, and only http(s)
// links become links.

const INLINE = [
  { kind: "code", pattern: /`([^`\n]+)`/ },
  { kind: "strong", pattern: /\*\*([^\n]+?)\*\*/ },
  { kind: "strong", pattern: /__([^\n]+?)__/ },
  { kind: "link", pattern: /\[([^\]\n]+)\]\(([^)\s]+)\)/ },
  { kind: "em", pattern: /\*([^*\n]+)\*/ },
  { kind: "em", pattern: /(?<![\w])_([^_\n]+)_(?![\w])/ },
];

function inline(text, parent) {
  while (text) {
    let best = null;
    for (const rule of INLINE) {
      const match = rule.pattern.exec(text);
      if (match && (best === null || match.index < best.match.index)) best = { rule, match };
    }
    if (best === null) {
      parent.append(document.createTextNode(text));
      return;
    }
    const { rule, match } = best;
    if (match.index > 0) parent.append(document.createTextNode(text.slice(0, match.index)));
    if (rule.kind === "code") {
      const code = document.createElement("code");
      code.textContent = match[1];
      parent.append(code);
    } else if (rule.kind === "link") {
      if (/^https?:\/\//i.test(match[2])) {
        const link = document.createElement("a");
        link.href = match[2];
        link.rel = "noopener noreferrer";
        link.target = "_blank";
        inline(match[1], link);
        parent.append(link);
      } else {
        inline(match[1], parent); // not http(s): the text only
      }
    } else {
      const node = document.createElement(rule.kind);
      inline(match[1], node);
      parent.append(node);
    }
    text = text.slice(match.index + match[0].length);
  }
}

function paragraph(lines) {
  const p = document.createElement("p");
  lines.forEach((line, i) => {
    if (i > 0) p.append(document.createElement("br"));
    inline(line, p);
  });
  return p;
}

const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/;
const HEADING = /^(#{1,6})\s+(.*)$/;
const FENCE = /^\s*```/;

/** ``source`` rendered as a DocumentFragment of safe elements. */
export function renderMarkdown(source) {
  const out = document.createDocumentFragment();
  const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
    } else if (FENCE.test(line)) {
      const code = [];
      i += 1;
      while (i < lines.length && !FENCE.test(lines[i])) code.push(lines[i++]);
      i += 1; // the closing fence (or the end: streamed text may not have it yet)
      const pre = document.createElement("pre");
      const block = document.createElement("code");
      block.textContent = code.join("\n");
      pre.append(block);
      out.append(pre);
    } else if (HEADING.test(line)) {
      const [, marks, text] = HEADING.exec(line);
      const heading = document.createElement(`h${Math.min(marks.length + 2, 6)}`);
      inline(text, heading);
      out.append(heading);
      i += 1;
    } else if (BULLET.test(line) || NUMBERED.test(line)) {
      const pattern = BULLET.test(line) ? BULLET : NUMBERED;
      const list = document.createElement(pattern === BULLET ? "ul" : "ol");
      while (i < lines.length && pattern.test(lines[i])) {
        const item = document.createElement("li");
        inline(pattern.exec(lines[i])[1], item);
        list.append(item);
        i += 1;
      }
      out.append(list);
    } else {
      const block = [];
      while (
        i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEADING.test(lines[i]) &&
        !BULLET.test(lines[i]) && !NUMBERED.test(lines[i])
      ) {
        block.push(lines[i++]);
      }
      out.append(paragraph(block));
    }
  }
  return out;
}
