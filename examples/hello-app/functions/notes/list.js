// GET /notes — the newest notes first (at most the environment's maxNotes).
exports = async function (request, response) {
  const notes = context.services.get("mongodb-atlas").db("hello").collection("notes");
  const limit = context.environment.values.maxNotes || 20;
  return { notes: await notes.find({}).sort({ createdAt: -1 }).limit(limit).toArray() };
};
