// POST /notes {"text": "…"} — stores a note in mongodb-atlas hello.notes.
exports = async function (request, response) {
  const body = request.body === undefined ? {} : JSON.parse(request.body.text());
  if (typeof body.text !== "string" || body.text === "") {
    response.setStatusCode(400);
    response.setBody(JSON.stringify({ error: "body must be {\"text\": \"…\"}" }));
    return;
  }
  const notes = context.services.get("mongodb-atlas").db("hello").collection("notes");
  const { insertedId } = await notes.insertOne({ text: body.text, createdAt: new Date() });
  response.setStatusCode(201);
  return { insertedId };
};
