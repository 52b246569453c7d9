// POST /echo — returns the parsed request body (EJSON, so {"$oid": …} comes back as an ObjectId).
exports = function (request, response) {
  if (request.body === undefined) {
    response.setStatusCode(400);
    response.setBody(JSON.stringify({ error: "send a JSON body" }));
    return;
  }
  return EJSON.parse(request.body.text());
};
