/** The backends every contract test runs against: embedded in memory, embedded durable, and the driver when MONGODB_URI is set. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MongoClient } from "mongodb";
import { createDriverDataService, createEmbeddedDataService, type DataService } from "../src/index.js";

export interface Backend {
  label: string;
  /** FerretDB stands in for MongoDB in CI; a few assertions note where it differs. */
  ferret: boolean;
  open(): Promise<{ service: DataService; database: string; cleanup(): Promise<void> }>;
}

export const MONGODB_URI = process.env.MONGODB_URI;
if (!MONGODB_URI) console.log("MONGODB_URI is not set: the driver-backend tests are skipped (scripts/ferretdb.sh start prints one)");

/** FerretDB answers buildInfo with a ferretdbVersion field; MongoDB does not. */
async function isFerret(uri: string): Promise<boolean> {
  const c = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  try {
    const info = await c.db("admin").command({ buildInfo: 1 });
    return "ferretdbVersion" in info;
  } finally {
    await c.close();
  }
}
const ferret = MONGODB_URI ? await isFerret(MONGODB_URI) : false;

let run = 0;
const dbName = () => `restitch_test_${process.pid}_${Date.now().toString(36)}_${run++}`;

export const backends: Backend[] = [
  {
    label: "embedded (in memory)",
    ferret: false,
    async open() {
      const service = await createEmbeddedDataService({ name: "mongodb-atlas" });
      return { service, database: "app", cleanup: () => service.close() };
    },
  },
  {
    label: "embedded (durable)",
    ferret: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "restitch-data-"));
      const service = await createEmbeddedDataService({ name: "mongodb-atlas", dataDir: dir });
      return {
        service,
        database: "app",
        cleanup: async () => {
          await service.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  ...(MONGODB_URI
    ? [
        {
          label: `driver (${MONGODB_URI})`,
          ferret,
          async open() {
            const service = await createDriverDataService({ name: "mongodb-atlas", uri: MONGODB_URI });
            const database = dbName();
            return {
              service,
              database,
              cleanup: async () => {
                const admin = new MongoClient(MONGODB_URI);
                await admin.db(database).dropDatabase().finally(() => admin.close());
                await service.close();
              },
            };
          },
        },
      ]
    : []),
];
