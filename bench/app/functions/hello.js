// GET /hello — the trivial endpoint: the cost of the edge, the isolate call and the response.
exports = function () {
  return { hello: "world" };
};
