// Small progressive enhancements; every page works without them.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copyTarget);
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-select-all]")) {
    document.querySelectorAll("input[name=conflict_ids]").forEach((box) => { box.checked = event.target.checked; });
  }
});
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
});
// A field marked data-when="<select name>:<value>" shows only while its form's select has that
// value (the erasure form: an actor, or a payload field and its value). Without this script
// every field shows and the server ignores the ones that do not apply.
function showChosenFields(form) {
  form.querySelectorAll("[data-when]").forEach((input) => {
    const [name, value] = input.dataset.when.split(":");
    const select = form.elements[name];
    (input.closest(".field") || input).hidden = Boolean(select) && select.value !== value;
  });
}
document.addEventListener("change", (event) => {
  if (event.target.form) showChosenFields(event.target.form);
});
document.querySelectorAll("form").forEach(showChosenFields);
