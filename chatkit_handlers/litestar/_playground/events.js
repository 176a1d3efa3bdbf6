// What a ChatKit client does with the bytes of an action: Server-Sent Events read
// from a streamed fetch body, and thread item updates applied to the items it holds.
// Pure data: the page (app.js) decides what to draw.

/** The events of an SSE body (``data: <json>\n\n`` frames), as they arrive. */
export async function* readEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      buffer = buffer.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = frame
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (data) yield JSON.parse(data);
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

function visit(node, found) {
  if (Array.isArray(node)) {
    for (const child of node) {
      const hit = visit(child, found);
      if (hit) return hit;
    }
    return null;
  }
  if (!node || typeof node !== "object") return null;
  if (found(node)) return node;
  for (const [key, value] of Object.entries(node)) {
    if (key === "children" && value && typeof value === "object") {
      const hit = visit(value, found);
      if (hit) return hit;
    }
  }
  return null;
}

/** The component with ``id`` in a widget tree (``null`` when there is none). */
export function findComponent(widget, id) {
  return visit(widget, (node) => node.id === id);
}

/** A copy of ``widget`` with the component ``id`` replaced by ``component``; ``null`` if no such id. */
export function replaceComponent(widget, id, component) {
  let replaced = false;
  const walk = (node) => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== "object") return node;
    if (node.id === id && !replaced) {
      replaced = true;
      return component;
    }
    const copy = { ...node };
    if (copy.children && typeof copy.children === "object") copy.children = walk(copy.children);
    return copy;
  };
  const result = walk(widget);
  return replaced ? result : null;
}

/**
 * ``item`` with ``update`` (the ``update`` of a ``thread.item.updated`` event) applied.
 * Returns ``{item, problem}``: ``problem`` says why nothing could be applied.
 */
export function applyItemUpdate(item, update) {
  const copy = structuredClone(item);
  switch (update.type) {
    case "widget.root.updated":
      copy.widget = update.widget;
      return { item: copy };
    case "widget.component.updated": {
      const widget = replaceComponent(copy.widget, update.component_id, update.component);
      if (widget === null) return { item, problem: `no component with id ${JSON.stringify(update.component_id)}` };
      copy.widget = widget;
      return { item: copy };
    }
    case "widget.streaming_text.value_delta": {
      const component = findComponent(copy.widget, update.component_id);
      if (component === null) return { item, problem: `no component with id ${JSON.stringify(update.component_id)}` };
      component.value = String(component.value ?? "") + update.delta;
      return { item: copy };
    }
    case "assistant_message.content_part.added":
    case "assistant_message.content_part.done":
      copy.content = copy.content || [];
      copy.content[update.content_index] = update.content;
      return { item: copy };
    case "assistant_message.content_part.text_delta": {
      copy.content = copy.content || [];
      const part = copy.content[update.content_index] || { type: "output_text", text: "", annotations: [] };
      part.text = String(part.text ?? "") + update.delta;
      copy.content[update.content_index] = part;
      return { item: copy };
    }
    case "assistant_message.content_part.annotation_added": {
      const part = (copy.content || [])[update.content_index];
      if (part) (part.annotations = part.annotations || []).splice(update.annotation_index, 0, update.annotation);
      return { item: copy };
    }
    default:
      return { item, problem: `the playground does not draw ${update.type} updates` };
  }
}
