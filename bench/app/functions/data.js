// GET /data?id=<hex> — one data-service call: findOne by _id on the app's data source.
exports = async function (request) {
  const docs = context.services.get("mongodb-atlas").db("bench").collection("docs");
  return await docs.findOne({ _id: new BSON.ObjectId(request.query.id) });
};
