// What every peer serves and what the load generator sends: the four endpoints, the ~1 KB JSON body,
// the HMAC secret and the seeded document, so that all peers answer the same requests the same way.
import { ObjectId } from "bson";

export const APP_DIR = new URL("./app/", import.meta.url).pathname;
export const APP_ID = "bench-abcde";
export const HMAC_SECRET = "bench-secret";
export const DOC_ID = "65a1b2c3d4e5f60718293a4b";
export const DB = "bench";
export const COLLECTION = "docs";

/** A ~1 KB JSON document: an id and 12 small items. */
export const HMAC_BODY = JSON.stringify({
  id: "order-4711",
  items: Array.from({ length: 12 }, (_, i) => ({ sku: `sku-${1000 + i}`, qty: i + 1, price: 9.99 + i, note: "bench item" })),
});

/** The seeded document findOne returns (plus _id). */
export const DOC = { name: "Ada Lovelace", email: "ada@example.com", tags: ["math", "engines"], visits: 42 };

/** Endpoint name -> path below the peer's base URL, method, body. Restitch's base is /app/<id>/endpoint. */
export const ENDPOINTS = [
  { name: "hello", path: "/hello", method: "GET" },
  { name: "hmac", path: "/hmac", method: "POST", body: HMAC_BODY, headers: { "content-type": "application/json" } },
  { name: "data", path: `/data?id=${DOC_ID}`, method: "GET" },
  { name: "exec", path: "/exec", method: "GET" },
];

/** Puts the document into the embedded store under dataDir (the file `restitch serve --data-dir` opens). */
export async function seedStore(dataDir) {
  const { createEmbeddedDataService } = await import("@restitch/mongodb");
  const service = await createEmbeddedDataService({ name: "mongodb-atlas", dataDir });
  try {
    const docs = service.db(DB).collection(COLLECTION);
    if (!(await docs.findOne({ _id: new ObjectId(DOC_ID) }))) await docs.insertOne({ _id: new ObjectId(DOC_ID), ...DOC });
  } finally {
    await service.close();
  }
}
