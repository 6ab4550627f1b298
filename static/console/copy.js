// Copy buttons: <button class="copy-button" data-copy-target="ID"> copies the text of #ID.
// The Clipboard API needs a secure context (https or localhost); elsewhere the
// text is selected and copied the old way, and stays selected if even that fails.
(function () {
  'use strict';

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copyWithSelection(element) {
    selectText(element);
    try {
      return document.execCommand('copy');
    } catch (error) {
      return false;
    }
  }

  function showState(button, copied) {
    button.dataset.copied = copied ? 'true' : 'false';
    button.textContent = copied ? 'Copied' : 'Press Ctrl+C';
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      button.textContent = 'Copy';
      delete button.dataset.copied;
    }, 2000);
  }

  // A page answering a POST (a new key's secret) takes the URL of its GET page: a reload then
  // shows the page without the secret instead of posting again and minting a second key.
  var replaced = document.querySelector('[data-replace-url]');
  if (replaced && window.history.replaceState) {
    window.history.replaceState(null, '', replaced.dataset.replaceUrl);
  }

  document.addEventListener('click', function (event) {
    var button = event.target.closest('.copy-button');
    if (!button) return;
    var target = document.getElementById(button.dataset.copyTarget);
    if (!target) return;
    var text = target.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { showState(button, true); },
        function () { showState(button, copyWithSelection(target)); }
      );
    } else {
      showState(button, copyWithSelection(target));
    }
  });
})();
