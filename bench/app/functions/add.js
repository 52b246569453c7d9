// Private: reached only through context.functions.execute.
exports = function (a, b) {
  return a + b;
};
