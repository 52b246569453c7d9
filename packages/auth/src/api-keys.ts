/**
 * User API keys (/auth/api_keys): the key is shown once, at creation; the store keeps its SHA-256.
 */
import { ObjectId } from "bson";
import { AuthError, isDuplicateKey } from "./errors.js";
import { generateApiKey, hashApiKey } from "./secrets.js";
import { hex, toObjectId, type ApiKeyDoc, type AuthDb, type UserDoc } from "./store.js";

export const MAX_USER_KEYS = 20;

export interface ApiKeyView {
  _id: string;
  name: string;
  disabled: boolean;
}

const view = (d: ApiKeyDoc): ApiKeyView => ({ _id: hex(d._id), name: d.name, disabled: d.disabled === true });
const notFound = () => new AuthError(404, "APIKeyNotFound", "API key not found");

export class ApiKeys {
  constructor(
    private readonly db: AuthDb,
    private readonly now: () => number,
  ) {}

  async create(user: UserDoc, name: unknown): Promise<ApiKeyView & { key: string }> {
    if (typeof name !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(name))
      throw new AuthError(400, "InvalidParameter", "name must be 1-64 characters of [A-Za-z0-9_-]");
    if ((await this.db.count("apikeys", { user_id: user._id })) >= MAX_USER_KEYS)
      throw new AuthError(400, "MaxAPIKeysReached", `a user may have at most ${MAX_USER_KEYS} API keys`);
    const key = generateApiKey();
    const doc: ApiKeyDoc = { _id: new ObjectId(), hash: hashApiKey(key), name, user_id: user._id, disabled: false, created_at: new Date(this.now()) };
    try {
      await this.db.insertOne("apikeys", doc as unknown as Record<string, unknown>);
    } catch (err) {
      if (isDuplicateKey(err)) throw new AuthError(409, "APIKeyAlreadyExists", `an API key named '${name}' already exists`);
      throw err;
    }
    return { ...view(doc), key };
  }

  async list(user: UserDoc): Promise<ApiKeyView[]> {
    return (await this.db.find<ApiKeyDoc>("apikeys", { user_id: user._id }, { created_at: 1 })).map(view);
  }

  private filter(user: UserDoc, id: string): Record<string, unknown> {
    const oid = toObjectId(id);
    if (!oid) throw notFound();
    return { _id: oid, user_id: user._id };
  }

  async get(user: UserDoc, id: string): Promise<ApiKeyView> {
    const doc = await this.db.findOne<ApiKeyDoc>("apikeys", this.filter(user, id));
    if (!doc) throw notFound();
    return view(doc);
  }

  async remove(user: UserDoc, id: string): Promise<void> {
    if ((await this.db.deleteOne("apikeys", this.filter(user, id))).deletedCount === 0) throw notFound();
  }

  async setDisabled(user: UserDoc, id: string, disabled: boolean): Promise<void> {
    if ((await this.db.updateOne("apikeys", this.filter(user, id), { $set: { disabled } })).matchedCount === 0) throw notFound();
  }
}
