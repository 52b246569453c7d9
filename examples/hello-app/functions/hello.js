// GET /hello?name=Ada — a greeting with the environment's greeting word and a Date, so the same
// answer can be seen as JSON ("at": ISO string) and EJSON ("at": {"$date": …}) via the Accept header.
exports = function (request, response) {
  const name = request.query.name || "world";
  console.log(`greeting ${name}`); // function logs: printed by restitch run, kept with the call's log entry
  return {
    greeting: `${context.environment.values.greeting}, ${name}!`,
    app: context.values.get("appName"),
    environment: context.environment.tag,
    apiKeyConfigured: typeof context.values.get("demoApiKey") === "string",
    at: new Date(),
  };
};
