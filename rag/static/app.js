// newsrag: a citation [n] in the chat scrolls to its source card beside the chat, opens it and flashes it.
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a.cite") : null;
  if (!link) return;
  const card = document.getElementById((link.getAttribute("href") || "").replace(/^#/, ""));
  event.preventDefault();
  event.stopPropagation();
  if (!card) return;
  for (let el = card; el; el = el.parentElement) {
    if (el.tagName === "DETAILS") el.open = true;
  }
  card.querySelectorAll("details").forEach((d) => { d.open = true; });
  card.scrollIntoView({ behavior: "smooth", block: "nearest" });
  card.classList.remove("nr-flash");
  void card.offsetWidth;
  card.classList.add("nr-flash");
}, true);
