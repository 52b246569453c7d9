/**
 * A response as plain data. The endpoint core and the error mapping build a Reply once; each host
 * turns it into what it sends: a WHATWG Response for fetch hosts and Hono (replyToResponse), or a
 * direct write to Node's ServerResponse on the endpoint path under Node (node-endpoint.ts).
 */

/**
 * A prototype-less record (lower-case name -> value) when every name has one value, the common case;
 * [name, value] pairs in order when a name repeats (several Set-Cookie lines).
 */
export type ReplyHeaders = Record<string, string> | [string, string][];

export interface Reply {
  status: number;
  headers: ReplyHeaders;
  /** null: no body (204, 205, 304, or nothing to send). */
  body: string | Uint8Array | null;
}

export function replyToResponse(reply: Reply): Response {
  const { headers } = reply;
  let init: Record<string, string> | Headers;
  if (Array.isArray(headers)) {
    // Headers keeps a repeated name's values apart (Set-Cookie) where a record could hold only one.
    init = new Headers();
    for (const [name, value] of headers) init.append(name, value);
  } else init = headers;
  return new Response(reply.body as ConstructorParameters<typeof Response>[0], { status: reply.status, headers: init });
}
