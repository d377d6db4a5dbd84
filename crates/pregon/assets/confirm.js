// Confirmations for destructive actions, in the page's <dialog id="confirm-dialog">
// (templates/base.html), whose title and buttons are already in the page's language.
//
// confirmAction(question) opens the dialog with `question` and resolves to true when the
// person confirms, false when they cancel or press Escape. Keyboard: the dialog is modal,
// focus starts on "Cancel", Escape closes it, and focus returns to where it was.
//
// Wired by attributes (see app.js): a <form data-confirm="…"> asks before it is
// submitted; a submit button's own data-confirm wins over its form's.

/** Asks `question`; resolves to whether the person confirmed. */
export function confirmAction(question) {
  const dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") {
    return Promise.resolve(window.confirm(question));
  }
  const message = dialog.querySelector("#confirm-dialog-message");
  if (message) message.textContent = question;
  const opener = document.activeElement;
  dialog.returnValue = "cancel";
  return new Promise((resolve) => {
    const closed = () => {
      // The browser fires `close` in a task of its own: the one of an earlier question can
      // arrive after the dialog has opened again, and must not answer this one.
      if (dialog.open) return;
      dialog.removeEventListener("close", closed);
      if (opener && typeof opener.focus === "function") opener.focus();
      resolve(dialog.returnValue === "confirm");
    };
    dialog.addEventListener("close", closed);
    dialog.showModal();
  });
}

/** Wires every form[data-confirm] (and submit button[data-confirm]) under `root`. */
export function wireConfirm(root) {
  for (const form of root.querySelectorAll("form")) {
    if (!form.dataset.confirm && !form.querySelector("[data-confirm]:not([data-api-url])")) continue;
    form.addEventListener("submit", async (event) => {
      if (form.dataset.confirmed === "yes") {
        delete form.dataset.confirmed;
        return;
      }
      const submitter = event.submitter;
      const question = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
      if (!question) return;
      event.preventDefault();
      if (await confirmAction(question)) {
        form.dataset.confirmed = "yes";
        form.requestSubmit(submitter || undefined);
      }
    });
  }
}
