/**
 * BSON-aware equality and ordering for expression operators. Values may come from any copy of the bson
 * package (or across an isolate boundary), so types are recognised by `_bsontype`, never by instanceof.
 */

type Bsonish = { _bsontype: string } & Record<string, unknown>;

export function bsonTypeOf(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const t = (value as { _bsontype?: unknown })._bsontype;
  return typeof t === "string" ? t : undefined;
}

export function isDate(value: unknown): value is Date {
  return Object.prototype.toString.call(value) === "[object Date]";
}

/** A plain JSON-like object (not an array, Date, RegExp or BSON value). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  if (bsonTypeOf(value) !== undefined || isDate(value) || value instanceof RegExp || ArrayBuffer.isView(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
}

/** Numbers of every BSON flavour as a JS number (Long and Decimal128 may lose precision; fine for comparisons). */
function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  switch (bsonTypeOf(value)) {
    case "Int32":
    case "Double":
      return Number((value as Bsonish).value);
    case "Long":
    case "Decimal128":
      return Number(String(value));
    default:
      return undefined;
  }
}

function binaryKey(value: Bsonish): string {
  const sub = Number(value.sub_type ?? 0);
  const hex = (value as unknown as { toString(enc: string): string }).toString("hex");
  return `${sub}:${hex}`;
}

export function bsonEquals(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return false; // a missing value never equals anything (see README)
  if (a === null || b === null) return a === b;
  const na = asNumber(a);
  const nb = asNumber(b);
  if (na !== undefined || nb !== undefined) return na !== undefined && nb !== undefined && na === nb;
  if (typeof a !== "object" || typeof b !== "object") return a === b;
  if (isDate(a) || isDate(b)) return isDate(a) && isDate(b) && a.getTime() === b.getTime();
  const ta = bsonTypeOf(a);
  const tb = bsonTypeOf(b);
  if (ta !== undefined || tb !== undefined) {
    const binA = ta === "Binary" || ta === "UUID";
    const binB = tb === "Binary" || tb === "UUID";
    if (binA && binB) return binaryKey(a as Bsonish) === binaryKey(b as Bsonish);
    if (ta !== tb) return false;
    if (ta === "ObjectId") return (a as { toHexString(): string }).toHexString() === (b as { toHexString(): string }).toHexString();
    if (ta === "BSONRegExp") {
      const ra = a as Bsonish;
      const rb = b as Bsonish;
      return ra.pattern === rb.pattern && ra.options === rb.options;
    }
    if (ta === "MinKey" || ta === "MaxKey") return true;
    return String(a) === String(b) && JSON.stringify(a) === JSON.stringify(b);
  }
  if (a instanceof RegExp || b instanceof RegExp) return a instanceof RegExp && b instanceof RegExp && a.source === b.source && a.flags === b.flags;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => bsonEquals(x, b[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && bsonEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Ordering for $gt/$gte/$lt/$lte: numbers, strings, dates and ObjectIds among themselves; undefined otherwise. */
export function bsonCompare(a: unknown, b: unknown): number | undefined {
  const na = asNumber(a);
  const nb = asNumber(b);
  if (na !== undefined && nb !== undefined) return na < nb ? -1 : na > nb ? 1 : 0;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  if (isDate(a) && isDate(b)) return Math.sign(a.getTime() - b.getTime());
  if (bsonTypeOf(a) === "ObjectId" && bsonTypeOf(b) === "ObjectId") {
    const ha = (a as { toHexString(): string }).toHexString();
    const hb = (b as { toHexString(): string }).toHexString();
    return ha < hb ? -1 : ha > hb ? 1 : 0;
  }
  return undefined;
}
