/**
 * Users, identities, credentials, API keys, sessions and the signing key in the store, database
 * "__restitch_auth_<appId>". Uniqueness (one user per identity, one account per username, one key
 * per hash) comes from _id or unique indexes, so it holds across several processes on one store.
 */
import { ObjectId } from "bson";
import { randomBytes } from "node:crypto";
import { isDuplicateKey } from "./errors.js";
import type { AuthStore, StoreOperation, UserIdentity } from "./types.js";

type Doc = Record<string, unknown>;

export interface UserDoc {
  _id: ObjectId;
  type: "normal" | "server";
  data: Record<string, unknown>;
  identities: UserIdentity[];
  disabled: boolean;
  created_at: Date;
}

export interface SessionDoc {
  _id: ObjectId;
  user_id: ObjectId;
  identity: UserIdentity;
  device_id: string;
  created_at: Date;
  expires_at: Date;
}

export interface ApiKeyDoc {
  _id: ObjectId;
  hash: string;
  name: string;
  user_id: ObjectId;
  disabled: boolean;
  created_at: Date;
}

export interface CredentialDoc {
  /** The username, lower-cased. */
  _id: string;
  hash: string;
  status: "pending" | "confirmed";
  /** sha256 of the confirmation token, while pending. */
  token_hash?: string;
  token_id?: string;
  created_at: Date;
}

/** Hex string of an id from the store (ObjectId or string). */
export function hex(id: unknown): string {
  if (typeof id === "string") return id;
  if (id && typeof (id as ObjectId).toHexString === "function") return (id as ObjectId).toHexString();
  return String(id);
}

export function toObjectId(id: string): ObjectId | null {
  return /^[0-9a-fA-F]{24}$/.test(id) ? new ObjectId(id) : null;
}

export class AuthDb {
  readonly database: string;

  constructor(
    private readonly store: AuthStore,
    appId: string,
  ) {
    // Database names cannot hold "/\. \"$"; app ids are "name-abcde" but may come from a config name.
    this.database = `__restitch_auth_${appId.replace(/[^A-Za-z0-9_-]/g, "_")}`.slice(0, 63);
  }

  private op<T>(collection: string, rest: Record<string, unknown>): Promise<T> {
    return this.store.execute({ database: this.database, collection, ...rest } as StoreOperation) as Promise<T>;
  }
  findOne<T>(collection: string, filter: Doc): Promise<T | null> {
    return this.op(collection, { kind: "findOne", filter });
  }
  find<T>(collection: string, filter: Doc, sort?: Doc): Promise<T[]> {
    return this.op(collection, { kind: "find", filter, ...(sort ? { sort } : {}) });
  }
  insertOne(collection: string, document: Doc): Promise<unknown> {
    return this.op(collection, { kind: "insertOne", document });
  }
  updateOne(collection: string, filter: Doc, update: Doc, upsert = false): Promise<{ matchedCount: number }> {
    return this.op(collection, { kind: "updateOne", filter, update, upsert });
  }
  deleteOne(collection: string, filter: Doc): Promise<{ deletedCount: number }> {
    return this.op(collection, { kind: "deleteOne", filter });
  }
  deleteMany(collection: string, filter: Doc): Promise<{ deletedCount: number }> {
    return this.op(collection, { kind: "deleteMany", filter });
  }
  count(collection: string, filter: Doc): Promise<number> {
    return this.op(collection, { kind: "count", filter });
  }

  async init(): Promise<void> {
    await this.op("apikeys", { kind: "createIndex", keys: { hash: 1 }, unique: true, name: "hash_unique" });
    await this.op("apikeys", { kind: "createIndex", keys: { user_id: 1, name: 1 }, unique: true, name: "user_name_unique" });
  }

  /**
   * The app's token signing key: created once by whichever process gets there first, then shared
   * (a racing process loses the insert and reads the winner's key).
   */
  async signingKey(): Promise<Uint8Array> {
    const read = async () => {
      const doc = await this.findOne<{ key: string }>("meta", { _id: "signing-key" });
      return doc ? new Uint8Array(Buffer.from(doc.key, "base64")) : null;
    };
    const existing = await read();
    if (existing) return existing;
    try {
      await this.insertOne("meta", { _id: "signing-key", key: randomBytes(64).toString("base64"), created_at: new Date() });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    const key = await read();
    if (!key) throw new Error("auth store: the signing key could not be read back after it was written");
    return key;
  }

  userById(id: ObjectId): Promise<UserDoc | null> {
    return this.findOne<UserDoc>("users", { _id: id });
  }

  /**
   * The user owning an identity, creating both when `create` allows it. Safe under concurrency: the
   * identity's _id is the unique key; a loser of the race removes its orphan user and reads the winner.
   */
  async userForIdentity(
    key: string,
    create: { type: "normal" | "server"; identity: UserIdentity } | null,
    now: Date,
  ): Promise<{ user: UserDoc; created: boolean } | null> {
    const link = await this.findOne<{ user_id: ObjectId }>("identities", { _id: key });
    if (link) {
      const user = await this.userById(link.user_id);
      if (user) return { user, created: false };
      // A dangling link (the user was deleted halfway): drop it and fall through.
      await this.deleteOne("identities", { _id: key });
    }
    if (!create) return null;
    const user: UserDoc = {
      _id: new ObjectId(),
      type: create.type,
      data: { ...(create.identity.data ?? {}) },
      identities: [create.identity],
      disabled: false,
      created_at: now,
    };
    await this.insertOne("users", user as unknown as Doc);
    try {
      await this.insertOne("identities", { _id: key, user_id: user._id });
    } catch (err) {
      await this.deleteOne("users", { _id: user._id });
      if (!isDuplicateKey(err)) throw err;
      return this.userForIdentity(key, null, now);
    }
    return { user, created: true };
  }

  /** Refreshes an identity's metadata on login (App Services re-reads provider metadata every login). */
  async updateIdentityData(user: UserDoc, identity: UserIdentity): Promise<UserDoc> {
    // Endpoint requests authenticate on every call: write only when the metadata really changed.
    const current = user.identities.find((i) => i.id === identity.id && i.provider_type === identity.provider_type);
    if (current && JSON.stringify(current.data ?? {}) === JSON.stringify(identity.data ?? {})) return user;
    const identities = user.identities.map((i) =>
      i.id === identity.id && i.provider_type === identity.provider_type ? identity : i,
    );
    const data = { ...user.data, ...(identity.data ?? {}) };
    await this.updateOne("users", { _id: user._id }, { $set: { identities, data } });
    return { ...user, identities, data };
  }

  async deleteUser(id: ObjectId): Promise<boolean> {
    const user = await this.userById(id);
    if (!user) return false;
    await this.deleteMany("sessions", { user_id: id });
    await this.deleteMany("apikeys", { user_id: id });
    await this.deleteMany("identities", { user_id: id });
    for (const i of user.identities)
      if (i.provider_type === "local-userpass" && typeof i.data?.email === "string")
        await this.deleteOne("credentials", { _id: i.data.email });
    await this.deleteOne("users", { _id: id });
    return true;
  }
}
