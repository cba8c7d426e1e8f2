// newsrag: a citation [n] in the chat scrolls to its passage under Sources, opens its card and flashes it.
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a.cite") : null;
  if (!link) return;
  const target = document.getElementById((link.getAttribute("href") || "").replace(/^#/, ""));
  event.preventDefault();
  event.stopPropagation();
  if (!target) return;
  const card = target.closest(".nr-card") || target;
  for (let el = target; el; el = el.parentElement) {
    if (el.tagName === "DETAILS") el.open = true;
  }
  card.querySelectorAll("details").forEach((d) => { d.open = true; });
  target.scrollIntoView({ behavior: "smooth", block: "nearest" });
  card.classList.remove("nr-flash");
  void card.offsetWidth;
  card.classList.add("nr-flash");
}, true);

// A new "Add to the index" closes the message boxes the last one left, so they cannot cover its result.
document.addEventListener("click", (event) => {
  if (!(event.target instanceof Element) || !event.target.closest("#add")) return;
  document.querySelectorAll('[data-testid="toast-close"]').forEach((button) => button.click());
}, true);

// Gradio's Dropdown has no placeholder: the empty source filter says what it does. The input is rendered (and
// re-rendered) by Gradio, so every change to the page is checked; it costs one query.
const NR_ALL_SOURCES = "All sources";
new MutationObserver(() => {
  const input = document.querySelector("#source-filter input[role=combobox]");
  if (!input) return;
  const chosen = input.closest(".wrap-inner")?.querySelector(".token") != null;
  const wanted = chosen ? "" : NR_ALL_SOURCES;
  if (input.placeholder !== wanted) input.placeholder = wanted;
}).observe(document.documentElement, { childList: true, subtree: true });
