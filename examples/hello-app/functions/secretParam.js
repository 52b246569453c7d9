// GET /secret-param?secret=…&x=1 — only reached with the right ?secret=; the secret never shows up
// in context.request.rawQueryString.
exports = function (request, response) {
  return { ok: true, rawQueryString: context.request.rawQueryString };
};
