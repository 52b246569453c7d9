// POST /webhook/github — only reached when the Endpoint-Signature header is
// "sha256=" + HMAC-SHA256(secret "githubWebhookSecret", raw body); Restitch checks it before this runs.
exports = function (request, response) {
  const header = (name) => {
    const key = Object.keys(request.headers).find((k) => k.toLowerCase() === name);
    return key === undefined ? undefined : request.headers[key][0];
  };
  const payload = JSON.parse(request.body.text());
  return { received: true, event: header("x-github-event") || null, action: payload.action || null };
};
