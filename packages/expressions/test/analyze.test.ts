import { describe, expect, it } from "vitest";
import { dependsOnDocument } from "../src/index.js";

describe("dependsOnDocument", () => {
  it("spots %%root, %%prevRoot, %%this, %%prev and plain field names, in keys, values and %function arguments", () => {
    expect(dependsOnDocument({ owner: "%%user.id" })).toBe(true);
    expect(dependsOnDocument({ "%%root.owner": "%%user.id" })).toBe(true);
    expect(dependsOnDocument({ "%%user.id": "%%prevRoot.owner" })).toBe(true);
    expect(dependsOnDocument({ "%%true": { "%function": { name: "f", arguments: ["%%this"] } } })).toBe(true);
    expect(dependsOnDocument({ "%or": [{ "%%user.type": "server" }, { name: "x" }] })).toBe(true);
  });
  it("is false for expressions over the user, values, request and environment only", () => {
    expect(dependsOnDocument({})).toBe(false);
    expect(dependsOnDocument(true)).toBe(false);
    expect(dependsOnDocument({ "%%user.id": { $in: "%%values.admin_ids" } })).toBe(false);
    expect(dependsOnDocument({ "%%true": { "%function": { name: "isAdmin", arguments: ["%%user.id"] } } })).toBe(false);
    expect(dependsOnDocument({ "%%rooted": 1 })).toBe(false);
  });
});
