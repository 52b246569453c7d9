// The isolate peer: the same four handlers as a workerd ES-module worker. workerd has no embedded
// MongoDB store, so /data reads an in-memory Map (the number is a lower bound on a real store call);
// /exec calls a second function of the same module (workerd's nearest to context.functions.execute).
const DOC_ID = "65a1b2c3d4e5f60718293a4b";
const docs = new Map([[DOC_ID, { _id: DOC_ID, name: "Ada Lovelace", email: "ada@example.com", tags: ["math", "engines"], visits: 42 }]]);
const encoder = new TextEncoder();
let key;
const add = async (a, b) => a + b;

async function hmacHex(text) {
  key ??= await crypto.subtle.importKey("raw", encoder.encode("bench-secret"), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(text)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/hello":
        return Response.json({ hello: "world" });
      case "/hmac": {
        const text = await request.text();
        const doc = JSON.parse(text);
        return Response.json({ id: doc.id, items: doc.items.length, hmac: await hmacHex(text) });
      }
      case "/data":
        return Response.json(docs.get(url.searchParams.get("id")) ?? null);
      case "/exec":
        return Response.json({ sum: await add(2, 3) });
      default:
        return new Response("not found", { status: 404 });
    }
  },
};
