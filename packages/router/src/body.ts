/** Reads a request body into memory, refusing it (413) as soon as it passes the limit. */
import type { IncomingMessage } from "node:http";
import { errors } from "./errors.js";

/**
 * The same, straight from Node's IncomingMessage: building a WHATWG Request only to read its body
 * costs more than the rest of a small request.
 */
export async function readIncomingBody(incoming: IncomingMessage, maxBytes: number): Promise<Uint8Array | undefined> {
  const declared = incoming.headers["content-length"];
  if (declared !== undefined && Number(declared) > maxBytes) throw errors.bodyTooLarge(maxBytes);
  if ((declared === undefined || declared === "0") && incoming.headers["transfer-encoding"] === undefined) return undefined;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      incoming.resume(); // drain the rest without keeping it
      throw errors.bodyTooLarge(maxBytes);
    }
    chunks.push(chunk);
  }
  if (total === 0) return undefined;
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
}

export async function readBody(request: Request, maxBytes: number): Promise<Uint8Array | undefined> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw errors.bodyTooLarge(maxBytes);
  if (request.body === null) return undefined;
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw errors.bodyTooLarge(maxBytes);
    }
    chunks.push(value);
  }
  if (total === 0) return undefined;
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
