// GET /sum?a=1&b=2 — calls the private function "sum".
exports = async function (request, response) {
  const a = Number(request.query.a);
  const b = Number(request.query.b);
  if (!Number.isFinite(a) || !Number.isFinite(b)) {
    response.setStatusCode(400);
    response.setBody(JSON.stringify({ error: "query parameters a and b must be numbers" }));
    return;
  }
  const sum = await context.functions.execute("sum", a, b);
  return { a, b, sum };
};
