// GET /exec — one nested call through context.functions.execute.
exports = async function () {
  return { sum: await context.functions.execute("add", 2, 3) };
};
