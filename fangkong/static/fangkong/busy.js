// A submit button marked data-busy="text" shows that text and stays disabled while the
// server works (making a rota takes seconds), so nobody presses it twice.
(function () {
  document.querySelectorAll("button[data-busy]").forEach(function (button) {
    button.form.addEventListener("submit", function () {
      window.setTimeout(function () {
        button.disabled = true;
        button.textContent = button.dataset.busy;
        button.classList.add("busy");
      }, 0);
    });
  });
})();
