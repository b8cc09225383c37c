/// <reference lib="dom" />
// Small DOM helpers for the playground's forms (no framework). Every
// control carries `data-field` so the browser tests can find it.

/** Creates `<tag>` with attributes and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

/** The element with id `id`, or a thrown error naming it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`playground: no element #${id} in the page`);
  return e as T;
}

/** A labelled `<select>`; `onChange` gets the chosen value. */
export function select(
  field: string,
  text: string,
  options: readonly string[],
  value: string,
  onChange: (v: string) => void,
): HTMLLabelElement {
  const s = el("select", { "data-field": field });
  for (const o of options) s.append(el("option", { value: o }, o));
  s.value = value;
  s.addEventListener("change", () => onChange(s.value));
  return el("label", {}, `${text} `, s);
}

/** A labelled number input; `onChange` gets finite values only. */
export function numberInput(
  field: string,
  text: string,
  value: number,
  onChange: (v: number) => void,
  step = "any",
): HTMLLabelElement {
  const i = el("input", {
    type: "number",
    step,
    value: String(value),
    "data-field": field,
  });
  i.addEventListener("input", () => {
    if (i.value !== "" && Number.isFinite(i.valueAsNumber)) {
      onChange(i.valueAsNumber);
    }
  });
  return el("label", {}, `${text} `, i);
}

/** A labelled checkbox. */
export function checkbox(
  field: string,
  text: string,
  checked: boolean,
  onChange: (v: boolean) => void,
): HTMLLabelElement {
  const c = el("input", { type: "checkbox", "data-field": field });
  c.checked = checked;
  c.addEventListener("change", () => onChange(c.checked));
  return el("label", {}, c, ` ${text}`);
}

/**
 * A piece that is on or off with a number: a checkbox and a number input;
 * `onChange` gets null when it is off.
 */
export function optionalNumber(
  field: string,
  text: string,
  value: number | null,
  fallback: number,
  onChange: (v: number | null) => void,
): HTMLSpanElement {
  let n = value ?? fallback, on = value !== null;
  const box = checkbox(`${field}.on`, text, on, (v) => {
    on = v;
    onChange(on ? n : null);
  });
  const num = numberInput(field, "", n, (v) => {
    n = v;
    if (on) onChange(n);
  });
  return el("span", { class: "opt" }, box, num);
}

/** A button. */
export function button(
  field: string,
  text: string,
  onClick: () => void,
): HTMLButtonElement {
  const b = el("button", { type: "button", "data-field": field }, text);
  b.addEventListener("click", onClick);
  return b;
}
