// A small, safe Markdown renderer for streamed chat answers. It never parses HTML: the source
// is only ever turned into text nodes (createTextNode / textContent), so "<img onerror=...>"
// in a model's answer shows up as those characters. Supported: headings, paragraphs, fenced
// code, bullet and numbered lists, block quotes, rules, `code`, **bold**, *italic*, and
// [links](https://...) to http(s) only.

const INLINE = /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\(([^)\s]+)\)/g;

function inline(text, parent) {
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) parent.append(document.createTextNode(text.slice(last, match.index)));
    last = match.index + match[0].length;
    const [, , code, bold, bold2, italic, italic2, label, href] = match;
    if (code !== undefined) {
      const node = document.createElement("code");
      node.textContent = code;
      parent.append(node);
    } else if (bold !== undefined || bold2 !== undefined) {
      const node = document.createElement("strong");
      inline(bold ?? bold2, node);
      parent.append(node);
    } else if (italic !== undefined || italic2 !== undefined) {
      const node = document.createElement("em");
      inline(italic ?? italic2, node);
      parent.append(node);
    } else if (label !== undefined) {
      if (/^https?:\/\//i.test(href)) {
        const node = document.createElement("a");
        node.href = href;
        node.rel = "noopener noreferrer nofollow";
        node.target = "_blank";
        inline(label, node);
        parent.append(node);
      } else {
        parent.append(document.createTextNode(match[0]));
      }
    }
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

// Renders `source` into a fresh fragment (the caller swaps it in).
export function renderMarkdown(source) {
  const fragment = document.createDocumentFragment();
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  let paragraph = [];
  let list = null;
  let quote = null;

  const flushParagraph = () => {
    if (!paragraph.length) return;
    const node = document.createElement("p");
    paragraph.forEach((line, index) => {
      if (index) node.append(document.createElement("br"));
      inline(line, node);
    });
    (quote ?? fragment).append(node);
    paragraph = [];
  };
  const closeList = () => {
    list = null;
  };
  const closeQuote = () => {
    flushParagraph();
    quote = null;
  };

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)/);
    if (fence) {
      flushParagraph();
      closeList();
      closeQuote();
      const body = [];
      index++;
      while (index < lines.length && !lines[index].trim().startsWith(fence[1])) {
        body.push(lines[index]);
        index++;
      }
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (fence[2]) code.dataset.lang = fence[2];
      code.textContent = body.join("\n");
      pre.append(code);
      fragment.append(pre);
      continue;
    }
    if (!line.trim()) {
      flushParagraph();
      closeList();
      closeQuote();
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      flushParagraph();
      closeList();
      closeQuote();
      const node = document.createElement(`h${Math.min(heading[1].length + 2, 6)}`);
      inline(heading[2], node);
      fragment.append(node);
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flushParagraph();
      closeList();
      fragment.append(document.createElement("hr"));
      continue;
    }
    const blockquote = line.match(/^\s*>\s?(.*)$/);
    if (blockquote) {
      closeList();
      if (!quote) {
        flushParagraph();
        quote = document.createElement("blockquote");
        fragment.append(quote);
      }
      paragraph.push(blockquote[1]);
      continue;
    }
    const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
    const numbered = line.match(/^\s*(\d+)[.)]\s+(.*)$/);
    if (bullet || numbered) {
      flushParagraph();
      const tag = bullet ? "UL" : "OL";
      if (!list || list.tagName !== tag) {
        list = document.createElement(tag);
        if (numbered && numbered[1] !== "1") list.start = Number(numbered[1]);
        (quote ?? fragment).append(list);
      }
      const item = document.createElement("li");
      inline(bullet ? bullet[1] : numbered[2], item);
      list.append(item);
      continue;
    }
    if (list && /^\s{2,}\S/.test(line)) {
      const item = list.lastElementChild;
      item.append(document.createTextNode(" "));
      inline(line.trim(), item);
      continue;
    }
    closeList();
    paragraph.push(line);
  }
  flushParagraph();
  return fragment;
}
