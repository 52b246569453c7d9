// Private: callable from other functions (context.functions.execute), never directly by a client.
exports = function (a, b) {
  return a + b;
};
