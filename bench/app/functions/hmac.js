// POST /hmac — JSON in, JSON out: parse a ~1 KB body and sign it with HMAC-SHA256 through utils.crypto.
exports = function (request) {
  const text = request.body.text();
  const doc = JSON.parse(text);
  return { id: doc.id, items: doc.items.length, hmac: utils.crypto.hmac(text, "bench-secret", "sha256", "hex") };
};
