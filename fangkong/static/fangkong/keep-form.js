// Keeps what was typed into a form marked data-keep="key" in the phone's storage, so a
// dropped connection or a reload on the doorstep loses nothing. Once a send went through
// (the next page no longer shows that form) the kept copy is removed.
(function () {
  var store = window.localStorage;
  var sent = window.sessionStorage.getItem("fangkong.keep.sent");
  if (sent && !document.querySelector("form[data-keep='" + sent + "']")) {
    store.removeItem("fangkong.keep." + sent);
    window.sessionStorage.removeItem("fangkong.keep.sent");
  }
  document.querySelectorAll("form[data-keep]").forEach(function (form) {
    var key = "fangkong.keep." + form.dataset.keep;
    try {
      var saved = JSON.parse(store.getItem(key) || "{}");
      Object.keys(saved).forEach(function (name) {
        form.querySelectorAll("[name='" + name + "']").forEach(function (el) {
          if (el.type === "radio" || el.type === "checkbox") {
            el.checked = saved[name].indexOf(el.value) !== -1;
          } else if (!el.value) {
            el.value = saved[name][0] || "";
          }
        });
      });
    } catch (e) { store.removeItem(key); }
    function save() {
      var data = {};
      new FormData(form).forEach(function (value, name) {
        if (name === "csrfmiddlewaretoken") return;
        (data[name] = data[name] || []).push(String(value));
      });
      store.setItem(key, JSON.stringify(data));
    }
    form.addEventListener("input", save);
    form.addEventListener("change", save);
    form.addEventListener("submit", function (event) {
      save();
      if (!navigator.onLine) {
        event.preventDefault();
        window.alert(form.dataset.offline);
        return;
      }
      window.sessionStorage.setItem("fangkong.keep.sent", form.dataset.keep);
    });
  });
})();
