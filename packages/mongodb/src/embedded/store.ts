/**
 * The embedded backend's storage: one SQLite database (node:sqlite) per data source, documents as BSON
 * blobs. Layout (see the package README):
 *   collections(db, coll)                    — collections that exist (collectionNames)
 *   docs(seq, db, coll, id, body)            — seq = insertion (natural) order; id = canonical _id key bytes
 *   indexes(db, coll, name, keys, is_unique) — secondary indexes created with createIndex
 *   index_keys(db, coll, name, key, seq)     — extracted keys of unique indexes; the PRIMARY KEY is the
 *                                              uniqueness check, so it holds across processes sharing the file
 * Every write runs inside BEGIN IMMEDIATE … COMMIT, which takes SQLite's write lock up front: a
 * read-modify-write sees no other writer, in this process or any other.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { deserialize, serialize, EJSON } from "bson";
import { DataServiceError } from "../errors.js";
import type { Document } from "../types.js";
import { MAX_DOCUMENT_BYTES } from "./evaluate.js";
import { keyBytes, valuesAtPath } from "./values.js";

/** A stored document as its BSON bytes. */
export interface RawRow {
  seq: number;
  body: Uint8Array;
}

export interface Row extends RawRow {
  doc: Document;
}

export interface IndexSpec {
  name: string;
  keys: Record<string, 1 | -1>;
  unique: boolean;
}


const SCHEMA = `
CREATE TABLE IF NOT EXISTS collections (db TEXT NOT NULL, coll TEXT NOT NULL, PRIMARY KEY (db, coll)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs (seq INTEGER PRIMARY KEY AUTOINCREMENT, db TEXT NOT NULL, coll TEXT NOT NULL, id BLOB NOT NULL, body BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS docs_id ON docs (db, coll, id);
CREATE INDEX IF NOT EXISTS docs_ns ON docs (db, coll, seq);
CREATE TABLE IF NOT EXISTS indexes (db TEXT NOT NULL, coll TEXT NOT NULL, name TEXT NOT NULL, keys TEXT NOT NULL, is_unique INTEGER NOT NULL, PRIMARY KEY (db, coll, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS index_keys (db TEXT NOT NULL, coll TEXT NOT NULL, name TEXT NOT NULL, key BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (db, coll, name, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS index_keys_seq ON index_keys (seq);
`;

/** How long opening a store retries a database locked by another process opening it (ms). */
const OPEN_LOCKED_FOR_MS = 15_000;
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;

/**
 * Runs `step`, again while SQLite answers "database is locked": the busy timeout covers most waits, but
 * SQLite refuses at once (no waiting) where waiting could deadlock, e.g. two processes switching a new
 * file to WAL at the same moment — seen as a worker dying at start with "database is locked".
 */
function untilUnlocked(step: () => void): void {
  const until = Date.now() + OPEN_LOCKED_FOR_MS;
  for (;;) {
    try {
      return step();
    } catch (e) {
      const code = (e as { errcode?: number }).errcode;
      if ((code !== SQLITE_BUSY && code !== SQLITE_LOCKED) || Date.now() > until) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 + Math.random() * 30);
    }
  }
}

export class Store {
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly stmts: Record<string, StatementSync>;
  private depth = 0;

  constructor(name: string, dataDir?: string, synchronous: "full" | "normal" = "full") {
    if (dataDir) {
      mkdirSync(dataDir, { recursive: true });
      this.path = join(dataDir, `${encodeURIComponent(name)}.sqlite`);
    } else this.path = ":memory:";
    this.db = new DatabaseSync(this.path, { timeout: 15_000 });
    if (dataDir) {
      // WAL + synchronous=FULL: a COMMIT returns only after the WAL frame is fsynced, so an acknowledged
      // write survives kill -9 and power loss. NORMAL skips that fsync: the frame is in the OS page cache,
      // which survives a killed process but not a power cut. WAL also lets other processes read concurrently.
      if (synchronous !== "full" && synchronous !== "normal") throw new DataServiceError("InvalidParameter", `synchronous must be "full" or "normal", got ${JSON.stringify(synchronous)}`);
      untilUnlocked(() => this.db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous.toUpperCase()};`));
    }
    // In one IMMEDIATE transaction: processes opening a new file together (a server's workers) then wait
    // for each other's write lock instead of deadlocking on it.
    untilUnlocked(() => {
      try {
        this.db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
      } catch (e) {
        if (this.db.isTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    });
    const p = (sql: string) => this.db.prepare(sql);
    this.stmts = {
      touch: p("INSERT OR IGNORE INTO collections (db, coll) VALUES (?, ?)"),
      names: p("SELECT coll FROM collections WHERE db = ? ORDER BY coll"),
      byId: p("SELECT seq, body FROM docs WHERE db = ? AND coll = ? AND id = ?"),
      scan: p("SELECT seq, body FROM docs WHERE db = ? AND coll = ? ORDER BY seq"),
      insert: p("INSERT INTO docs (db, coll, id, body) VALUES (?, ?, ?, ?)"),
      update: p("UPDATE docs SET body = ? WHERE seq = ?"),
      delete: p("DELETE FROM docs WHERE seq = ?"),
      deleteNs: p("DELETE FROM docs WHERE db = ? AND coll = ?"),
      deleteNsKeys: p("DELETE FROM index_keys WHERE db = ? AND coll = ?"),
      indexes: p("SELECT name, keys, is_unique FROM indexes WHERE db = ? AND coll = ?"),
      addIndex: p("INSERT INTO indexes (db, coll, name, keys, is_unique) VALUES (?, ?, ?, ?, ?)"),
      keyOwner: p("SELECT seq FROM index_keys WHERE db = ? AND coll = ? AND name = ? AND key = ?"),
      addKey: p("INSERT INTO index_keys (db, coll, name, key, seq) VALUES (?, ?, ?, ?, ?)"),
      dropKeys: p("DELETE FROM index_keys WHERE seq = ?"),
    };
  }

  /** Runs fn in one write transaction (nested calls join the outer one). */
  write<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    this.db.exec("BEGIN IMMEDIATE");
    this.depth++;
    try {
      const out = fn();
      this.db.exec("COMMIT");
      return out;
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    } finally {
      this.depth--;
    }
  }

  /** A savepoint inside the current transaction: fn's writes are undone if it throws (insertMany, bulkWrite). */
  attempt<T>(fn: () => T): T {
    this.db.exec("SAVEPOINT step");
    try {
      const out = fn();
      this.db.exec("RELEASE step");
      return out;
    } catch (e) {
      this.db.exec("ROLLBACK TO step; RELEASE step");
      throw e;
    }
  }

  collectionNames(db: string): string[] {
    return this.stmts.names!.all(db).map((r) => String(r.coll));
  }

  rawById(db: string, coll: string, id: unknown): RawRow | undefined {
    const r = this.stmts.byId!.get(db, coll, keyBytes(id));
    return r ? { seq: Number(r.seq), body: r.body as Uint8Array } : undefined;
  }

  *rawScan(db: string, coll: string): Generator<RawRow> {
    for (const r of this.stmts.scan!.iterate(db, coll)) yield { seq: Number(r.seq), body: r.body as Uint8Array };
  }

  byId(db: string, coll: string, id: unknown): Row | undefined {
    const r = this.rawById(db, coll, id);
    return r && decoded(r);
  }

  *scan(db: string, coll: string): Generator<Row> {
    for (const r of this.rawScan(db, coll)) yield decoded(r);
  }

  indexes(db: string, coll: string): IndexSpec[] {
    return this.stmts.indexes!.all(db, coll).map((r) => ({
      name: String(r.name),
      keys: JSON.parse(String(r.keys)) as Record<string, 1 | -1>,
      unique: r.is_unique === 1,
    }));
  }

  insert(db: string, coll: string, doc: Document): void {
    const body = encode(doc);
    this.stmts.touch!.run(db, coll);
    const id = keyBytes(doc._id);
    if (this.stmts.byId!.get(db, coll, id)) throw duplicate(db, coll, "_id_", { _id: doc._id });
    const { lastInsertRowid } = this.stmts.insert!.run(db, coll, id, body);
    this.addKeys(db, coll, Number(lastInsertRowid), doc);
  }

  replace(db: string, coll: string, seq: number, doc: Document): void {
    this.stmts.update!.run(encode(doc), seq);
    this.stmts.dropKeys!.run(seq);
    this.addKeys(db, coll, seq, doc);
  }

  remove(seq: number): void {
    this.stmts.delete!.run(seq);
    this.stmts.dropKeys!.run(seq);
  }

  /** Empties a collection (the $out stage replaces a collection's contents). */
  clear(db: string, coll: string): void {
    this.stmts.deleteNs!.run(db, coll);
    this.stmts.deleteNsKeys!.run(db, coll);
    this.stmts.touch!.run(db, coll);
  }

  createIndex(db: string, coll: string, spec: IndexSpec): string {
    const existing = this.indexes(db, coll).find((i) => i.name === spec.name);
    if (existing) {
      if (JSON.stringify(existing.keys) === JSON.stringify(spec.keys) && existing.unique === spec.unique) return spec.name;
      throw new DataServiceError("InvalidOperation", `an index named '${spec.name}' already exists on ${db}.${coll} with different keys or options`);
    }
    this.stmts.touch!.run(db, coll);
    this.stmts.addIndex!.run(db, coll, spec.name, JSON.stringify(spec.keys), spec.unique ? 1 : 0);
    if (spec.unique) for (const row of this.scan(db, coll)) this.addIndexKeys(db, coll, spec, row.seq, row.doc);
    return spec.name;
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  private addKeys(db: string, coll: string, seq: number, doc: Document): void {
    for (const spec of this.indexes(db, coll)) if (spec.unique) this.addIndexKeys(db, coll, spec, seq, doc);
  }

  private addIndexKeys(db: string, coll: string, spec: IndexSpec, seq: number, doc: Document): void {
    for (const tuple of indexKeys(doc, Object.keys(spec.keys))) {
      const key = keyBytes(tuple);
      const owner = this.stmts.keyOwner!.get(db, coll, spec.name, key);
      if (owner && Number(owner.seq) === seq) continue; // the same array element twice in one document
      if (owner) throw duplicate(db, coll, spec.name, Object.fromEntries(Object.keys(spec.keys).map((f, i) => [f, tuple[i]])));
      this.stmts.addKey!.run(db, coll, spec.name, key, seq);
    }
  }
}

/** Key tuples of a document for an index on `fields`: one per combination of array elements (multikey); missing → null. */
function indexKeys(doc: Document, fields: string[]): unknown[][] {
  let tuples: unknown[][] = [[]];
  for (const f of fields) {
    const raw = valuesAtPath(doc, f).flatMap((v) => (Array.isArray(v) ? (v.length ? v : [undefined]) : [v]));
    const vals = raw.length ? raw.map((v) => (v === undefined ? null : v)) : [null];
    tuples = tuples.flatMap((t) => vals.map((v) => [...t, v]));
  }
  return tuples;
}

function duplicate(db: string, coll: string, index: string, key: Document): DataServiceError {
  return new DataServiceError(
    "DuplicateKey",
    `E11000 duplicate key error collection: ${db}.${coll} index: ${index} dup key: ${EJSON.stringify(key, { relaxed: true })}`,
  );
}

function encode(doc: Document): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = serialize(doc);
  } catch (e) {
    throw new DataServiceError("InvalidParameter", `document cannot be stored as BSON: ${(e as Error).message}`, { cause: e });
  }
  if (bytes.length > MAX_DOCUMENT_BYTES) throw new DataServiceError("InvalidParameter", `document is ${bytes.length} bytes, over the 16 MB BSON limit`);
  return bytes;
}

export function decoded(r: RawRow): Row {
  return { seq: r.seq, body: r.body, doc: deserialize(r.body) };
}
