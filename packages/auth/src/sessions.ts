/**
 * Sessions: login responses, refresh, logout, and turning an access token back into a live user.
 * A logged-out session, a deleted user or a disabled user stops an access token within `cacheMs`.
 */
import { ObjectId } from "bson";
import { AuthError } from "./errors.js";
import { hex, toObjectId, type AuthDb, type SessionDoc, type UserDoc } from "./store.js";
import { ANON_REFRESH_TOKEN_SECONDS, REFRESH_TOKEN_SECONDS, TokenSigner } from "./tokens.js";
import type { UserIdentity } from "./types.js";

export interface LoginResponse {
  access_token: string;
  refresh_token: string;
  user_id: string;
  device_id: string;
}

const NO_DEVICE = "000000000000000000000000";

/** The device id a client sent in its login options, or App Services' all-zero id. */
export function deviceIdFrom(body: Record<string, unknown>): string {
  const options = body.options as { device?: { deviceId?: unknown } } | undefined;
  const id = options?.device?.deviceId;
  return typeof id === "string" && /^[0-9a-f]{24}$/i.test(id) ? id.toLowerCase() : NO_DEVICE;
}

const expiredSession = () => new AuthError(401, "InvalidSession", "invalid session");

export class Sessions {
  private readonly cache = new Map<string, { until: number; user: UserDoc }>();

  constructor(
    private readonly db: AuthDb,
    private readonly signer: TokenSigner,
    private readonly appId: string,
    private readonly now: () => number,
    private readonly cacheMs: number,
  ) {}

  async start(user: UserDoc, identity: UserIdentity, deviceId: string): Promise<LoginResponse> {
    const lifetime = identity.provider_type === "anon-user" ? ANON_REFRESH_TOKEN_SECONDS : REFRESH_TOKEN_SECONDS;
    const session: SessionDoc = {
      _id: new ObjectId(),
      user_id: user._id,
      identity: { id: identity.id, provider_type: identity.provider_type, ...(identity.provider_id ? { provider_id: identity.provider_id } : {}) },
      device_id: deviceId,
      created_at: new Date(this.now()),
      expires_at: new Date(this.now() + lifetime * 1000),
    };
    await this.db.insertOne("sessions", session as unknown as Record<string, unknown>);
    const input = this.tokenInput(user, session);
    return {
      access_token: await this.signer.access(input),
      refresh_token: await this.signer.refresh(input, lifetime),
      user_id: hex(user._id),
      device_id: deviceId,
    };
  }

  private tokenInput(user: UserDoc, session: SessionDoc) {
    return {
      userId: hex(user._id),
      sessionId: hex(session._id),
      deviceId: session.device_id,
      appId: this.appId,
      identity: session.identity,
      userData: user.data,
    };
  }

  /** The session behind a refresh token, with its live user; throws InvalidSession otherwise. */
  private async fromRefresh(token: string): Promise<{ session: SessionDoc; user: UserDoc }> {
    const claims = await this.signer.verify(token, "refresh");
    const sessionId = claims ? toObjectId(claims.baas_id) : null;
    if (!claims || !sessionId) throw expiredSession();
    const live = await this.live(sessionId, claims.sub);
    if (!live) throw expiredSession();
    return live;
  }

  private async live(sessionId: ObjectId, sub: string): Promise<{ session: SessionDoc; user: UserDoc } | null> {
    const session = await this.db.findOne<SessionDoc>("sessions", { _id: sessionId });
    if (!session || hex(session.user_id) !== sub || new Date(session.expires_at).getTime() <= this.now()) return null;
    const user = await this.db.userById(session.user_id);
    if (!user || user.disabled) return null;
    return { session, user };
  }

  /** POST /auth/session: a new access token for a live refresh token. */
  async refresh(refreshToken: string): Promise<{ access_token: string }> {
    const { session, user } = await this.fromRefresh(refreshToken);
    return { access_token: await this.signer.access(this.tokenInput(user, session)) };
  }

  /** DELETE /auth/session: revokes the session (a refresh token that is already invalid is not an error). */
  async logout(refreshToken: string): Promise<void> {
    const claims = await this.signer.verify(refreshToken, "refresh");
    const sessionId = claims ? toObjectId(claims.baas_id) : null;
    if (!sessionId) return;
    await this.db.deleteOne("sessions", { _id: sessionId });
    this.cache.delete(hex(sessionId));
  }

  /** The user a refresh token belongs to (user API key routes take the refresh token, as the SDKs send it). */
  async userFromRefresh(refreshToken: string): Promise<UserDoc> {
    return (await this.fromRefresh(refreshToken)).user;
  }

  /** The live user behind an access token, or null. Briefly cached so every request is not two reads. */
  async userFromAccess(accessToken: string): Promise<UserDoc | null> {
    const claims = await this.signer.verify(accessToken, "access");
    if (!claims) return null;
    const hit = this.cache.get(claims.iss);
    const t = this.now();
    if (hit && hit.until > t && hex(hit.user._id) === claims.sub) return hit.user;
    const sessionId = toObjectId(claims.iss);
    const live = sessionId ? await this.live(sessionId, claims.sub) : null;
    if (!live) {
      this.cache.delete(claims.iss);
      return null;
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(claims.iss, { until: t + this.cacheMs, user: live.user });
    return live.user;
  }

  /** Either token type names a user; the user-level routes accept both. */
  async userFromEither(token: string): Promise<UserDoc> {
    const user = (await this.userFromAccess(token)) ?? (await this.fromRefresh(token).then((l) => l.user, () => null));
    if (!user) throw expiredSession();
    return user;
  }

  forgetUser(userId: string): void {
    for (const [k, v] of this.cache) if (hex(v.user._id) === userId) this.cache.delete(k);
  }
}
