// The 3-D Secure return_url of the card frame: tells the card frame (our own origin, our parent)
// that the challenge is over. The card frame then reads the intent's outcome itself.
(function () {
  'use strict';
  if (window.parent !== window) window.parent.postMessage({ source: 'paynats', type: '3ds_done' }, location.origin);
})();
