import { decodeJwt, decodeProtectedHeader, SignJWT } from "jose";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { bearerToken, TokenSigner } from "../src/tokens.js";

const input = {
  userId: "64224f3cd79f54ad342dd9b2",
  sessionId: "64224f3cd79f54ad342dd9b3",
  deviceId: "000000000000000000000000",
  appId: "myapp-abcde",
  identity: { id: "x", provider_type: "anon-user", provider_id: "anon-user" },
  userData: {},
};

describe("TokenSigner", () => {
  const key = randomBytes(64);
  let t = 1_700_000_000_000;
  const signer = new TokenSigner(key, () => t);

  it("C145 access token is HS256, typ access, sub = user id, exp - iat = 1800, iss = session", async () => {
    const token = await signer.access(input);
    expect(decodeProtectedHeader(token)).toEqual({ alg: "HS256", typ: "JWT" });
    const claims = decodeJwt(token);
    expect(claims.typ).toBe("access");
    expect(claims.sub).toBe(input.userId);
    expect(claims.iss).toBe(input.sessionId);
    expect(claims.exp! - claims.iat!).toBe(1800);
    expect(claims.baas_device_id).toBe(input.deviceId);
    expect(claims.baas_domain_id).toBe(input.appId);
    expect(await signer.verify(token, "access")).toMatchObject({ sub: input.userId, iss: input.sessionId });
  });

  it("refresh tokens carry the session and identity and are not access tokens", async () => {
    const token = await signer.refresh(input, 3600);
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ typ: "refresh", sub: input.userId, baas_id: input.sessionId, stitch_id: input.sessionId });
    expect(claims.baas_identity).toEqual({ id: "x", provider_type: "anon-user", provider_id: "anon-user" });
    expect(await signer.verify(token, "access")).toBeNull();
    expect(await signer.verify(token, "refresh")).toMatchObject({ baas_id: input.sessionId });
  });

  it("refuses expired, forged, other-key and malformed tokens", async () => {
    const token = await signer.access(input);
    t += 1801_000;
    expect(await signer.verify(token, "access")).toBeNull();
    t -= 1801_000;
    const other = new TokenSigner(randomBytes(64), () => t);
    expect(await other.verify(token, "access")).toBeNull();
    const [h, p] = token.split(".");
    expect(await signer.verify(`${h}.${p}.`, "access")).toBeNull();
    expect(await signer.verify("not a jwt", "access")).toBeNull();
    const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${p}.`;
    expect(await signer.verify(none, "access")).toBeNull();
    const hs512 = await new SignJWT({ typ: "access", iss: input.sessionId }).setProtectedHeader({ alg: "HS512" }).setSubject(input.userId).setExpirationTime("1h").sign(key);
    expect(await signer.verify(hs512, "access")).toBeNull();
  });

  it("reads Bearer headers", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer   abc ")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(bearerToken("Bearer")).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
