// Widgets rendered as ChatKit renders them: one function per component type of
// chatkit-python 1.6.5's chatkit.widgets, plus Table / Table.Row / Table.Cell of
// @openai/chatkit 1.7. Everything is built with createElement and textContent:
// a widget's text may come from users, so no string is ever parsed as HTML.
// An unknown component is shown as a labelled box holding its JSON.

import { renderMarkdown } from "./markdown.js";

const SPACING_UNIT = 4; // px per spacing unit (gap: 2 is 8px)

const TEXT_COLORS = {
  prose: "var(--ck-text)",
  primary: "var(--ck-text)",
  emphasis: "var(--ck-text-emphasis)",
  secondary: "var(--ck-text-secondary)",
  tertiary: "var(--ck-text-tertiary)",
  success: "var(--ck-success)",
  warning: "var(--ck-warning)",
  danger: "var(--ck-danger)",
};
const BACKGROUNDS = {
  surface: "var(--ck-surface)",
  "surface-secondary": "var(--ck-surface-secondary)",
  "surface-tertiary": "var(--ck-surface-tertiary)",
  "surface-elevated": "var(--ck-surface-elevated)",
  "surface-elevated-secondary": "var(--ck-surface-secondary)",
};
const BORDERS = { default: "var(--ck-border)", subtle: "var(--ck-border-subtle)", strong: "var(--ck-border-strong)" };
const HUES = {
  gray: [220, 8], slate: [215, 16], red: [0, 75], orange: [25, 85], amber: [40, 90], yellow: [50, 90],
  lime: [85, 65], green: [142, 60], emerald: [155, 65], teal: [173, 60], cyan: [190, 75], sky: [200, 85],
  blue: [217, 85], indigo: [235, 70], violet: [258, 75], purple: [270, 70], fuchsia: [292, 70],
  pink: [330, 75], rose: [350, 80],
};
const CHART_COLORS = ["blue", "purple", "orange", "green", "red", "yellow", "pink"];
const FONT_WEIGHTS = { normal: "400", medium: "500", semibold: "600", bold: "700" };
const TEXT_SIZES = { xs: "12px", sm: "14px", md: "16px", lg: "18px", xl: "20px" };
const TITLE_SIZES = {
  sm: "16px", md: "18px", lg: "20px", xl: "24px", "2xl": "28px", "3xl": "32px", "4xl": "36px", "5xl": "48px",
};
const CAPTION_SIZES = { sm: "12px", md: "13px", lg: "14px" };
const ICON_SIZES = { xs: "12px", sm: "14px", md: "16px", lg: "20px", xl: "24px", "2xl": "28px", "3xl": "32px" };
const RADII = {
  "2xs": "2px", xs: "4px", sm: "6px", md: "8px", lg: "12px", xl: "16px", "2xl": "20px", "3xl": "24px",
  "4xl": "32px", full: "9999px", "100%": "100%", none: "0",
};
const ALIGN = { start: "flex-start", center: "center", end: "flex-end", baseline: "baseline", stretch: "stretch" };
const JUSTIFY = {
  start: "flex-start", center: "center", end: "flex-end", between: "space-between",
  around: "space-around", evenly: "space-evenly", stretch: "stretch",
};
const TEXT_ALIGN = { start: "start", center: "center", end: "end" };
// ChatKit draws its own icon set; a close enough glyph per name keeps layouts honest.
const ICONS = {
  agent: "◎", analytics: "▤", atom: "⚛", batch: "▦", bolt: "ϟ", "book-open": "▭", "book-closed": "▯",
  "book-clock": "◷", bug: "✱", calendar: "▦", chart: "▥", check: "✓", "check-circle": "✓",
  "check-circle-filled": "✔", "chevron-left": "‹", "chevron-right": "›", "circle-question": "?",
  compass: "⊕", confetti: "✺", cube: "▣", desktop: "▭", document: "▤", dot: "•",
  "dots-horizontal": "⋯", "dots-vertical": "⋮", "empty-circle": "○", "external-link": "↗", globe: "◍",
  keys: "⚿", lab: "⚗", images: "▨", info: "ℹ", lifesaver: "◉", lightbulb: "☀", mail: "✉",
  "map-pin": "⌖", maps: "▱", mobile: "▯", name: "Aa", notebook: "▤", "notebook-pencil": "✎",
  "page-blank": "▯", phone: "☎", play: "▶", plus: "+", profile: "☺", "profile-card": "▭", reload: "↻",
  star: "☆", "star-filled": "★", search: "⌕", sparkle: "✦", "sparkle-double": "✧", "square-code": "⌗",
  "square-image": "▨", "square-text": "▤", suitcase: "▭", "settings-slider": "☰", user: "☺", wreath: "❦",
  write: "✎", "write-alt": "✎", "write-alt2": "✎",
};

// ------------------------------------------------------------------ helpers

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

// A CSS value from a widget: plain lengths, colors and keywords only, never url(...) or a
// declaration break, since widget JSON may come from anywhere.
function cssValue(value) {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value !== "string" || value.length > 64) return undefined;
  if (/url\s*\(|expression|[;{}\\<>"'@]/i.test(value)) return undefined;
  return /^[\w\s#%.,()+\-/*]*$/.test(value) ? value : undefined;
}

function length(value) {
  return typeof value === "number" ? `${value}px` : cssValue(value);
}

function spacing(value) {
  return typeof value === "number" ? `${value * SPACING_UNIT}px` : cssValue(value);
}

function primitiveColor(token) {
  const match = /^([a-z]+)-(\d{2,3})$/.exec(token);
  if (!match || !(match[1] in HUES)) return undefined;
  const [hue, saturation] = HUES[match[1]];
  const level = Math.min(Math.max(Number(match[2]), 50), 950);
  return `hsl(${hue} ${saturation}% ${Math.round(97 - (level / 950) * 85)}%)`;
}

function color(value, tokens, theme) {
  if (value && typeof value === "object") return color(theme === "dark" ? value.dark : value.light, tokens, theme);
  if (typeof value !== "string") return undefined;
  if (tokens && value in tokens) return tokens[value];
  return primitiveColor(value) || cssValue(value);
}

function set(node, property, value) {
  if (value !== undefined && value !== null && value !== "") node.style.setProperty(property, value);
}

function applySpacingBox(node, property, value) {
  if (value === undefined || value === null) return;
  if (typeof value !== "object") return set(node, property, spacing(value));
  const sides = { top: value.top ?? value.y, right: value.right ?? value.x, bottom: value.bottom ?? value.y, left: value.left ?? value.x };
  for (const [side, v] of Object.entries(sides)) if (v !== undefined) set(node, `${property}-${side}`, spacing(v));
}

function applyBorder(node, value, theme) {
  if (value === undefined || value === null) return;
  const one = (side, border) => {
    const prop = side ? `border-${side}` : "border";
    if (typeof border === "number") return set(node, prop, `${border}px solid var(--ck-border)`);
    if (border && typeof border === "object" && typeof border.size === "number") {
      const style = /^(solid|dashed|dotted|double|groove|ridge|inset|outset)$/.test(border.style) ? border.style : "solid";
      set(node, prop, `${border.size}px ${style} ${color(border.color, BORDERS, theme) || "var(--ck-border)"}`);
    }
  };
  if (typeof value === "number" || typeof value.size === "number") return one("", value);
  for (const side of ["top", "right", "bottom", "left"]) {
    const axis = side === "top" || side === "bottom" ? value.y : value.x;
    if (value[side] !== undefined || axis !== undefined) one(side, value[side] ?? axis);
  }
}

function applyBlock(node, c) {
  set(node, "height", length(c.height));
  set(node, "width", length(c.width));
  if (c.size !== undefined) { set(node, "width", length(c.size)); set(node, "height", length(c.size)); }
  set(node, "min-height", length(c.minHeight));
  set(node, "min-width", length(c.minWidth));
  if (c.minSize !== undefined) { set(node, "min-width", length(c.minSize)); set(node, "min-height", length(c.minSize)); }
  set(node, "max-height", length(c.maxHeight));
  set(node, "max-width", length(c.maxWidth));
  if (c.maxSize !== undefined) { set(node, "max-width", length(c.maxSize)); set(node, "max-height", length(c.maxSize)); }
  set(node, "aspect-ratio", cssValue(c.aspectRatio));
  if (c.radius in RADII) set(node, "border-radius", RADII[c.radius]);
  applySpacingBox(node, "margin", c.margin);
  if (c.flex !== undefined) set(node, "flex", cssValue(c.flex));
}

function applyBox(node, c, ctx, direction) {
  node.style.display = "flex";
  node.style.flexDirection = direction === "row" ? "row" : "column";
  if (c.align in ALIGN) set(node, "align-items", ALIGN[c.align]);
  if (c.justify in JUSTIFY) set(node, "justify-content", JUSTIFY[c.justify]);
  if (["nowrap", "wrap", "wrap-reverse"].includes(c.wrap)) set(node, "flex-wrap", c.wrap);
  set(node, "gap", spacing(c.gap));
  applySpacingBox(node, "padding", c.padding);
  applyBorder(node, c.border, ctx.theme);
  set(node, "background", color(c.background, BACKGROUNDS, ctx.theme));
  applyBlock(node, c);
}

function applyText(node, c, ctx, sizes, defaultColor) {
  set(node, "color", color(c.color, TEXT_COLORS, ctx.theme) || defaultColor);
  if (c.weight in FONT_WEIGHTS) set(node, "font-weight", FONT_WEIGHTS[c.weight]);
  if (c.size in sizes) set(node, "font-size", sizes[c.size]);
  if (c.textAlign in TEXT_ALIGN) set(node, "text-align", TEXT_ALIGN[c.textAlign]);
  if (c.truncate) node.classList.add("ck-truncate");
  if (typeof c.maxLines === "number") {
    node.classList.add("ck-clamp");
    set(node, "-webkit-line-clamp", String(c.maxLines));
  }
}

function childrenOf(c) {
  if (Array.isArray(c.children)) return c.children;
  return c.children && typeof c.children === "object" ? [c.children] : [];
}

function appendChildren(node, c, ctx) {
  for (const child of childrenOf(c)) node.append(render(child, ctx));
}

function statusHeader(status, ctx) {
  const head = el("div", "ck-status");
  if (typeof status.favicon === "string" && safeImageUrl(status.favicon)) {
    const img = el("img", "ck-favicon" + (status.frame ? " ck-framed" : ""));
    img.src = status.favicon;
    img.alt = "";
    head.append(img);
  } else if (status.icon) {
    head.append(icon({ name: status.icon, size: "sm" }, ctx));
  }
  head.append(document.createTextNode(String(status.text ?? "")));
  return head;
}

export function safeImageUrl(url) {
  return typeof url === "string" && (/^https?:\/\//i.test(url) || /^data:image\//i.test(url));
}

// The control carrying an action, as the page's action sender needs it.
function wire(node, config, kind, ctx, extra = {}) {
  if (!config || typeof config !== "object" || typeof config.type !== "string") return;
  node.dataset.ckAction = config.type;
  ctx.bind(node, config, kind, extra);
}

// ------------------------------------------------------------------ components

const COMPONENTS = {
  Card(c, ctx) {
    const theme = c.theme || ctx.theme;
    const inner = { ...ctx, theme };
    const card = el(c.asForm ? "form" : "div", "ck-card");
    if (c.asForm) card.noValidate = true; // validated when confirmed, as ChatKit does
    if (theme === "dark") card.classList.add("ck-dark");
    if (["sm", "md", "lg", "full"].includes(c.size)) card.classList.add(`ck-card-${c.size}`);
    set(card, "background", color(c.background, BACKGROUNDS, theme));
    applyBorder(card, c.border, theme);
    if (c.status) card.append(statusHeader(c.status, inner));
    const body = el("div", "ck-card-body");
    applySpacingBox(body, "padding", c.padding);
    appendChildren(body, c, inner);
    if (c.collapsed) {
      const toggle = el("button", "ck-collapsed");
      toggle.type = "button";
      toggle.textContent = "Collapsed: show";
      body.hidden = true;
      toggle.addEventListener("click", () => { body.hidden = !body.hidden; });
      card.append(toggle);
    }
    card.append(body);
    if (c.confirm || c.cancel) {
      const footer = el("div", "ck-card-actions");
      for (const [key, style] of [["cancel", "secondary"], ["confirm", "primary"]]) {
        const spec = c[key];
        if (!spec) continue;
        const button = el("button", `ck-button ck-button-${style} ck-card-${key}`);
        button.type = "button";
        button.textContent = String(spec.label ?? key);
        button.dataset.ckType = `Card.${key}`;
        wire(button, spec.action, key, inner, { form: c.asForm ? card : null });
        footer.append(button);
      }
      card.append(footer);
    }
    return card;
  },

  ListView(c, ctx) {
    const theme = c.theme || ctx.theme;
    const list = el("div", "ck-listview" + (theme === "dark" ? " ck-dark" : ""));
    if (c.status) list.append(statusHeader(c.status, ctx));
    const items = childrenOf(c);
    const limit = typeof c.limit === "number" ? c.limit : items.length;
    const rows = el("div", "ck-listview-items");
    items.forEach((child, i) => {
      const row = render(child, { ...ctx, theme });
      if (i >= limit) row.hidden = true;
      rows.append(row);
    });
    list.append(rows);
    if (items.length > limit) {
      const more = el("button", "ck-show-more");
      more.type = "button";
      more.textContent = `Show ${items.length - limit} more`;
      more.addEventListener("click", () => {
        for (const row of rows.children) row.hidden = false;
        more.remove();
      });
      list.append(more);
    }
    return list;
  },

  ListViewItem(c, ctx) {
    const row = el("div", "ck-listviewitem");
    row.style.display = "flex";
    row.style.alignItems = ALIGN[c.align] || "center";
    set(row, "gap", spacing(c.gap ?? 3));
    appendChildren(row, c, ctx);
    if (c.onClickAction) {
      row.classList.add("ck-clickable");
      row.tabIndex = 0;
      row.setAttribute("role", "button");
      wire(row, c.onClickAction, "click", ctx);
    }
    return row;
  },

  Basic(c, ctx) {
    const theme = c.theme || ctx.theme;
    const root = el("div", "ck-basic" + (theme === "dark" ? " ck-dark" : ""));
    applyBox(root, { gap: 2, ...c }, { ...ctx, theme }, c.direction || "col");
    appendChildren(root, c, { ...ctx, theme });
    return root;
  },

  Box(c, ctx) {
    const box = el("div", "ck-box");
    applyBox(box, c, ctx, c.direction || "col");
    appendChildren(box, c, ctx);
    return box;
  },

  Row(c, ctx) {
    const row = el("div", "ck-row");
    applyBox(row, { align: "center", gap: 2, ...c }, ctx, "row");
    appendChildren(row, c, ctx);
    return row;
  },

  Col(c, ctx) {
    const col = el("div", "ck-col");
    applyBox(col, { gap: 2, ...c }, ctx, "col");
    appendChildren(col, c, ctx);
    return col;
  },

  Form(c, ctx) {
    const form = el("form", "ck-form");
    form.noValidate = true; // validated on submit (reportValidity), as ChatKit does
    applyBox(form, { gap: 2, ...c }, ctx, c.direction || "col");
    appendChildren(form, c, ctx);
    if (c.onSubmitAction) wire(form, c.onSubmitAction, "submit", ctx, { form });
    return form;
  },

  Text(c, ctx) {
    if (c.editable && typeof c.editable === "object" && c.editable.name) {
      const input = el("input", "ck-input ck-text-editable");
      input.name = String(c.editable.name);
      input.value = String(c.value ?? "");
      if (c.editable.placeholder) input.placeholder = String(c.editable.placeholder);
      if (c.editable.required) input.required = true;
      if (c.editable.pattern) input.pattern = String(c.editable.pattern);
      if (c.editable.autoFocus) input.autofocus = true;
      applyText(input, c, ctx, TEXT_SIZES);
      return input;
    }
    const text = el("div", "ck-text");
    text.textContent = String(c.value ?? "");
    applyText(text, c, ctx, TEXT_SIZES);
    if (c.italic) text.style.fontStyle = "italic";
    if (c.lineThrough) text.style.textDecoration = "line-through";
    set(text, "width", length(c.width));
    if (typeof c.minLines === "number") set(text, "min-height", `${c.minLines * 1.5}em`);
    return text;
  },

  Title(c, ctx) {
    const title = el("div", "ck-title");
    title.setAttribute("role", "heading");
    title.textContent = String(c.value ?? "");
    applyText(title, c, ctx, TITLE_SIZES);
    return title;
  },

  Caption(c, ctx) {
    const caption = el("div", "ck-caption");
    caption.textContent = String(c.value ?? "");
    applyText(caption, c, ctx, CAPTION_SIZES, "var(--ck-text-secondary)");
    return caption;
  },

  Markdown(c) {
    const box = el("div", "ck-markdown");
    box.append(renderMarkdown(String(c.value ?? "")));
    return box;
  },

  Label(c, ctx) {
    const label = el("label", "ck-label");
    label.textContent = String(c.value ?? "");
    if (c.fieldName) label.dataset.field = String(c.fieldName);
    applyText(label, c, ctx, TEXT_SIZES);
    return label;
  },

  Button(c, ctx) {
    const button = el("button", "ck-button");
    button.type = c.submit ? "submit" : "button";
    const tone = c.color || (c.style === "secondary" ? "secondary" : "primary");
    button.classList.add(`ck-button-${/^[a-z]+$/.test(tone) ? tone : "primary"}`);
    if (["solid", "soft", "outline", "ghost"].includes(c.variant)) button.classList.add(`ck-variant-${c.variant}`);
    if (typeof c.size === "string" && /^[0-9a-z]+$/.test(c.size)) button.classList.add(`ck-size-${c.size}`);
    if (c.pill) button.classList.add("ck-pill");
    if (c.uniform) button.classList.add("ck-uniform");
    if (c.block) button.classList.add("ck-block");
    if (c.iconStart) button.append(icon({ name: c.iconStart, size: c.iconSize || "sm" }, ctx));
    if (c.label !== undefined && c.label !== null) {
      const label = el("span", "ck-button-label");
      label.textContent = String(c.label);
      button.append(label);
    }
    if (c.iconEnd) button.append(icon({ name: c.iconEnd, size: c.iconSize || "sm" }, ctx));
    if (c.disabled) button.disabled = true;
    if (c.onClickAction) wire(button, c.onClickAction, "click", ctx);
    return button;
  },

  Badge(c) {
    const badge = el("span", "ck-badge");
    badge.textContent = String(c.label ?? "");
    const tone = ["secondary", "success", "danger", "warning", "info", "discovery"].includes(c.color) ? c.color : "secondary";
    badge.classList.add(`ck-badge-${tone}`, `ck-badge-${["solid", "soft", "outline"].includes(c.variant) ? c.variant : "soft"}`);
    if (["sm", "md", "lg"].includes(c.size)) badge.classList.add(`ck-badge-${c.size}`);
    if (c.pill) badge.classList.add("ck-pill");
    return badge;
  },

  Icon(c, ctx) {
    return icon(c, ctx);
  },

  Image(c, ctx) {
    if (!safeImageUrl(c.src)) {
      const blocked = el("div", "ck-image-blocked");
      blocked.textContent = "Image not shown: only http(s) and data:image URLs are loaded";
      blocked.title = String(c.src ?? "");
      return blocked;
    }
    const image = el("img", "ck-image");
    image.src = c.src;
    image.alt = String(c.alt ?? "");
    if (["cover", "contain", "fill", "scale-down", "none"].includes(c.fit)) image.style.objectFit = c.fit;
    if (typeof c.position === "string" && /^[a-z ]+$/.test(c.position)) image.style.objectPosition = c.position;
    if (c.frame) image.classList.add("ck-framed");
    if (c.flush) image.classList.add("ck-flush");
    set(image, "background", color(c.background, BACKGROUNDS, ctx.theme));
    applyBlock(image, c);
    return image;
  },

  Divider(c, ctx) {
    const line = el("hr", "ck-divider");
    set(line, "border-top-color", color(c.color, BORDERS, ctx.theme));
    set(line, "border-top-width", length(c.size));
    if (c.spacing !== undefined) { set(line, "margin-top", spacing(c.spacing)); set(line, "margin-bottom", spacing(c.spacing)); }
    if (c.flush) line.classList.add("ck-flush");
    return line;
  },

  Spacer(c) {
    const spacer = el("div", "ck-spacer");
    set(spacer, "min-width", length(c.minSize));
    set(spacer, "min-height", length(c.minSize));
    return spacer;
  },

  Input(c, ctx) {
    const input = el("input", "ck-input");
    input.name = String(c.name ?? "");
    input.type = ["number", "email", "text", "password", "tel", "url"].includes(c.inputType) ? c.inputType : "text";
    control(input, c);
    if (c.defaultValue !== undefined) input.value = String(c.defaultValue);
    if (c.placeholder) input.placeholder = String(c.placeholder);
    if (c.pattern) input.pattern = String(c.pattern);
    if (c.autoFocus) input.autofocus = true;
    return input;
  },

  Textarea(c, ctx) {
    const area = el("textarea", "ck-input ck-textarea");
    area.name = String(c.name ?? "");
    control(area, c);
    if (c.defaultValue !== undefined) area.value = String(c.defaultValue);
    if (c.placeholder) area.placeholder = String(c.placeholder);
    area.rows = typeof c.rows === "number" ? c.rows : 3;
    if (c.pattern) area.dataset.pattern = String(c.pattern);
    if (c.autoResize) {
      area.addEventListener("input", () => {
        area.style.height = "auto";
        area.style.height = `${area.scrollHeight}px`;
      });
    }
    return area;
  },

  Select(c, ctx) {
    const select = el("select", "ck-input ck-select");
    select.name = String(c.name ?? "");
    const placeholder = el("option");
    placeholder.value = "";
    placeholder.textContent = String(c.placeholder ?? "Select…");
    placeholder.disabled = !c.clearable;
    select.append(placeholder);
    for (const option of Array.isArray(c.options) ? c.options : []) {
      const node = el("option");
      node.value = String(option.value ?? "");
      node.textContent = String(option.label ?? option.value ?? "");
      if (option.disabled) node.disabled = true;
      if (option.description) node.title = String(option.description);
      select.append(node);
    }
    select.value = c.defaultValue !== undefined ? String(c.defaultValue) : "";
    control(select, c);
    if (c.block) select.classList.add("ck-block");
    if (c.onChangeAction) wire(select, c.onChangeAction, "change", ctx);
    return select;
  },

  DatePicker(c, ctx) {
    const input = el("input", "ck-input ck-datepicker");
    input.type = "date";
    input.name = String(c.name ?? "");
    const day = (value) => (typeof value === "string" ? value.slice(0, 10) : "");
    if (c.defaultValue) input.value = day(c.defaultValue);
    if (c.min) input.min = day(c.min);
    if (c.max) input.max = day(c.max);
    if (c.placeholder) input.title = String(c.placeholder);
    control(input, c);
    if (c.block) input.classList.add("ck-block");
    if (c.onChangeAction) wire(input, c.onChangeAction, "change", ctx);
    return input;
  },

  Checkbox(c, ctx) {
    const label = el("label", "ck-checkbox");
    const box = el("input");
    box.type = "checkbox";
    box.name = String(c.name ?? "");
    box.checked = Boolean(c.defaultChecked);
    control(box, c);
    label.append(box);
    if (c.label !== undefined) {
      const text = el("span");
      text.textContent = String(c.label);
      label.append(text);
    }
    if (c.onChangeAction) wire(box, c.onChangeAction, "change", ctx);
    return label;
  },

  RadioGroup(c, ctx) {
    const group = el("div", "ck-radiogroup");
    group.setAttribute("role", "radiogroup");
    group.setAttribute("aria-label", String(c.ariaLabel ?? c.name ?? ""));
    group.style.flexDirection = c.direction === "row" ? "row" : "column";
    for (const option of Array.isArray(c.options) ? c.options : []) {
      const label = el("label", "ck-radio");
      const radio = el("input");
      radio.type = "radio";
      radio.name = String(c.name ?? "");
      radio.value = String(option.value ?? "");
      radio.checked = c.defaultValue !== undefined && String(c.defaultValue) === radio.value;
      radio.disabled = Boolean(c.disabled || option.disabled);
      if (c.required) radio.required = true;
      if (c.onChangeAction) wire(radio, c.onChangeAction, "change", ctx);
      const text = el("span");
      text.textContent = String(option.label ?? option.value ?? "");
      label.append(radio, text);
      group.append(label);
    }
    return group;
  },

  Chart(c, ctx) {
    return chart(c, ctx);
  },

  Transition(c, ctx) {
    const box = el("div", "ck-transition");
    appendChildren(box, c, ctx);
    return box;
  },

  Table(c, ctx) {
    const table = el("table", "ck-table");
    const body = el("tbody");
    appendChildren(body, c, ctx);
    table.append(body);
    return table;
  },

  "Table.Row"(c, ctx) {
    const row = el("tr", "ck-table-row");
    appendChildren(row, c, { ...ctx, header: Boolean(c.header) });
    return row;
  },

  "Table.Cell"(c, ctx) {
    const cell = el(ctx.header ? "th" : "td", "ck-table-cell");
    if (typeof c.colSpan === "number") cell.colSpan = c.colSpan;
    if (typeof c.rowSpan === "number") cell.rowSpan = c.rowSpan;
    if (c.align in TEXT_ALIGN) cell.style.textAlign = TEXT_ALIGN[c.align];
    if (c.vAlign) cell.style.verticalAlign = { start: "top", center: "middle", end: "bottom" }[c.vAlign] || "";
    set(cell, "width", length(c.width) || { xs: "10%", sm: "15%", md: "25%", lg: "35%", xl: "50%" }[c.colSize]);
    applySpacingBox(cell, "padding", c.padding);
    appendChildren(cell, c, { ...ctx, header: false });
    return cell;
  },
};

function control(node, c) {
  if (c.disabled) node.disabled = true;
  if (c.required) node.required = true;
  if (["soft", "outline", "solid", "ghost"].includes(c.variant)) node.classList.add(`ck-variant-${c.variant}`);
  if (typeof c.size === "string" && /^[0-9a-z]+$/.test(c.size)) node.classList.add(`ck-size-${c.size}`);
  if (c.pill) node.classList.add("ck-pill");
}

function icon(c, ctx) {
  const glyph = el("span", "ck-icon");
  const name = String(c.name ?? "");
  glyph.textContent = ICONS[name] || "◇";
  glyph.title = name;
  glyph.setAttribute("aria-label", name);
  glyph.dataset.icon = name;
  set(glyph, "color", color(c.color, TEXT_COLORS, ctx.theme));
  set(glyph, "font-size", ICON_SIZES[c.size] || ICON_SIZES.md);
  return glyph;
}

function chart(c, ctx) {
  const box = el("div", "ck-chart");
  applyBlock(box, { ...c, height: undefined, size: undefined, aspectRatio: undefined }); // the drawing's own
  const rows = Array.isArray(c.data) ? c.data : [];
  const series = (Array.isArray(c.series) ? c.series : []).filter((s) => s && typeof s.dataKey === "string");
  const xKey = typeof c.xAxis === "string" ? c.xAxis : c.xAxis?.dataKey;
  const xLabels = (typeof c.xAxis === "object" && c.xAxis?.labels) || {};
  const width = 400;
  const height = typeof c.height === "number" ? c.height : 180;
  const left = c.showYAxis ? 36 : 8;
  const bottom = c.xAxis?.hide ? 8 : 22;
  const plotW = width - left - 8;
  const plotH = height - bottom - 8;
  const value = (row, key) => (typeof row[key] === "number" ? row[key] : Number(row[key]) || 0);
  const seriesColor = (s, i) => {
    const token = CHART_COLORS.includes(s.color) ? s.color : CHART_COLORS[i % CHART_COLORS.length];
    return (!CHART_COLORS.includes(s.color) && color(s.color, null, ctx.theme)) || primitiveColor(`${token}-500`);
  };
  // Stacked series (bar or area) add up per row.
  let max = 0;
  rows.forEach((row) => {
    const stacks = {};
    series.forEach((s, i) => {
      const key = s.stack ?? `__${i}`;
      stacks[key] = (stacks[key] || 0) + Math.max(0, value(row, s.dataKey));
    });
    max = Math.max(max, ...Object.values(stacks), 0);
  });
  max = max || 1;
  const chartSvg = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "ck-chart-svg" });
  chartSvg.append(svg("line", { x1: left, y1: 8 + plotH, x2: left + plotW, y2: 8 + plotH, stroke: "currentColor", "stroke-opacity": 0.2 }));
  if (c.showYAxis) {
    for (const fraction of [0, 0.5, 1]) {
      const y = 8 + plotH - fraction * plotH;
      const tick = svg("text", { x: left - 4, y: y + 3, "text-anchor": "end", class: "ck-chart-label" });
      tick.textContent = String(Math.round(max * fraction * 100) / 100);
      chartSvg.append(tick);
    }
  }
  const slot = rows.length ? plotW / rows.length : plotW;
  const x = (i) => left + slot * i + slot / 2;
  const y = (v) => 8 + plotH - (v / max) * plotH;
  const bars = series.filter((s) => s.type === "bar");
  const groups = [...new Set(bars.map((s, i) => s.stack ?? `__${i}`))];
  const barWidth = Math.max(2, (slot * 0.7) / Math.max(groups.length, 1));
  rows.forEach((row, i) => {
    const offsets = {};
    bars.forEach((s, j) => {
      const group = s.stack ?? `__${j}`;
      const g = groups.indexOf(group);
      const v = Math.max(0, value(row, s.dataKey));
      const base = offsets[group] || 0;
      offsets[group] = base + v;
      const rect = svg("rect", {
        x: x(i) - (barWidth * groups.length) / 2 + g * barWidth, y: y(base + v),
        width: barWidth - 1, height: Math.max(0, y(base) - y(base + v)), fill: seriesColor(s, series.indexOf(s)), rx: 2,
      });
      const tip = svg("title");
      tip.textContent = `${s.label ?? s.dataKey}: ${row[s.dataKey]}`;
      rect.append(tip);
      chartSvg.append(rect);
    });
    if (!c.xAxis?.hide && xKey) {
      const label = svg("text", { x: x(i), y: height - 6, "text-anchor": "middle", class: "ck-chart-label" });
      const raw = String(row[xKey] ?? "");
      label.textContent = String(xLabels[raw] ?? raw);
      chartSvg.append(label);
    }
  });
  series.forEach((s, i) => {
    if (s.type !== "line" && s.type !== "area") return;
    const points = rows.map((row, j) => `${x(j)},${y(value(row, s.dataKey))}`);
    if (!points.length) return;
    const stroke = seriesColor(s, i);
    if (s.type === "area") {
      const area = [`${x(0)},${y(0)}`, ...points, `${x(rows.length - 1)},${y(0)}`].join(" ");
      chartSvg.append(svg("polygon", { points: area, fill: stroke, "fill-opacity": 0.25 }));
    }
    chartSvg.append(svg("polyline", { points: points.join(" "), fill: "none", stroke, "stroke-width": 2 }));
  });
  box.append(chartSvg);
  if (c.showLegend !== false && series.length > 1) {
    const legend = el("div", "ck-chart-legend");
    series.forEach((s, i) => {
      const entry = el("span", "ck-chart-key");
      const swatch = el("span", "ck-chart-swatch");
      swatch.style.background = seriesColor(s, i);
      entry.append(swatch, document.createTextNode(String(s.label ?? s.dataKey)));
      legend.append(entry);
    });
    box.append(legend);
  }
  return box;
}

function unknown(component, reason) {
  const box = el("div", "ck-unknown");
  const label = el("div", "ck-unknown-label");
  label.textContent = reason;
  const json = el("pre");
  json.textContent = JSON.stringify(component, null, 2);
  box.append(label, json);
  return box;
}

// ------------------------------------------------------------------ entry points

/** One component (and its subtree) as DOM. ``ctx``: ``{theme, bind(node, config, kind, extra)}``. */
export function render(component, ctx) {
  if (!component || typeof component !== "object" || Array.isArray(component)) {
    return unknown(component, "Not a component");
  }
  const type = component.type;
  const build = Object.prototype.hasOwnProperty.call(COMPONENTS, type) ? COMPONENTS[type] : null;
  let node;
  try {
    node = build ? build(component, ctx) : unknown(component, `Unknown component: ${String(type)}`);
  } catch (error) {
    node = unknown(component, `Could not render ${String(type)}: ${error.message}`);
  }
  node.dataset.ckType = build ? type : "unknown";
  if (typeof component.id === "string") node.dataset.ckId = component.id;
  if (typeof component.key === "string") node.dataset.ckKey = component.key;
  return node;
}

/** The widget root of a widget item, as ChatKit draws it in a thread. */
export function renderWidget(widget, ctx) {
  const root = render(widget, { theme: "light", ...ctx });
  root.classList.add("ck-widget-root");
  return root;
}

export const COMPONENT_TYPES = Object.keys(COMPONENTS);
