import { describe, expect, it } from "vitest";
import { ObjectId } from "bson";
import { changedPaths } from "../src/rules/permissions.js";

describe("rules: changedPaths (what a write must be allowed to touch)", () => {
  const id = new ObjectId();
  it("lists top-level fields that differ, never _id, BSON-aware", () => {
    const before = { _id: id, a: 1, b: new Date(5), c: new ObjectId(id.toHexString()), d: "x" };
    const after = { _id: id, a: 2, b: new Date(5), c: new ObjectId(id.toHexString()), e: true };
    expect(changedPaths(before, after, undefined)).toEqual([["a"], ["d"], ["e"]]);
  });
  it("descends only where the role names nested fields", () => {
    const before = { profile: { email: "a", phone: "1" }, prefs: { x: 1 } };
    const after = { profile: { email: "a", phone: "2" }, prefs: { x: 2 } };
    const role = { name: "r", fields: { profile: { fields: { phone: { write: true } } } } };
    expect(changedPaths(before, after, role)).toEqual([["profile", "phone"], ["prefs"]]);
  });
  it("an insert touches every field of the new document (C131)", () => {
    expect(changedPaths({}, { _id: id, name: "n", tags: ["a"] }, undefined)).toEqual([["name"], ["tags"]]);
  });
});
