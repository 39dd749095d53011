// Meridian storefront: enhancements only. Every page works without this
// script (forms post and redirect); with it, the cached pages show who is
// signed in and what is in the cart, and "Add to cart" stays on the page.
(function () {
  'use strict';

  var personal = document.getElementById('personal');

  // Cached pages are the same for everyone; the personal part of the header
  // comes from a small uncached fragment.
  function loadPersonal() {
    if (!personal || personal.getAttribute('data-live') === '1') return;
    fetch('/fragments/header', { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) personal.innerHTML = html; })
      .catch(function () { /* keep the generic links */ });
  }

  function refreshAfterChange() {
    if (personal) personal.removeAttribute('data-live');
    loadPersonal();
  }

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (form.matches('form[data-enhance="cart-add"]')) {
      event.preventDefault();
      var button = form.querySelector('button[type="submit"]');
      var status = form.querySelector('[data-status]');
      button.disabled = true;
      fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: 'application/json' },
        credentials: 'same-origin'
      })
        .then(function (r) {
          return r.json().then(function (body) { return { ok: r.ok, body: body }; });
        })
        .then(function (answer) {
          if (answer.ok) {
            status.textContent = 'Added. Your cart has ' + answer.body.item_count + ' item' +
              (answer.body.item_count === 1 ? '' : 's') + '.';
            refreshAfterChange();
          } else {
            status.textContent = (answer.body.error && answer.body.error.message) ||
              'That could not be added to your cart.';
          }
        })
        .catch(function () { form.submit(); })
        .then(function () { button.disabled = false; });
      return;
    }
    if (form.matches('form[data-once]')) {
      // One press is enough. (A second one would be harmless: the form
      // carries its idempotency key, so the server answers it the same.)
      var submit = form.querySelector('button[type="submit"]');
      if (submit) {
        window.setTimeout(function () {
          submit.disabled = true;
          submit.textContent = submit.getAttribute('data-busy') || 'Working…';
        }, 0);
      }
    }
  });

  loadPersonal();
})();
