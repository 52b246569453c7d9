// @ts-nocheck -- guest code: runs in a bare V8 realm before the bson library loads
/**
 * What a bare V8 realm lacks and the bson library (or tenant code) expects: UTF-8 TextEncoder /
 * TextDecoder and crypto.getRandomValues (backed by the host's CSPRNG). Self-contained: serialized
 * with Function.prototype.toString and run inside the isolate.
 */
export function guestPolyfills(hostSync: any): void {
  "use strict";
  const CHUNK = 0x2000;
  // Code units to a string in chunks (String.fromCharCode.apply has an argument-count limit).
  function unitsToString(units, length) {
    let out = "";
    for (let i = 0; i < length; i += CHUNK) out += String.fromCharCode.apply(null, units.subarray(i, Math.min(length, i + CHUNK)));
    return out;
  }

  function utf8Encode(input) {
    const s = String(input);
    const out = new Uint8Array(s.length * 3);
    let o = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        out[o++] = c;
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else c = 0xfffd;
      } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x800) {
        out[o++] = 0xc0 | (c >> 6);
        out[o++] = 0x80 | (c & 63);
      } else if (c < 0x10000) {
        out[o++] = 0xe0 | (c >> 12);
        out[o++] = 0x80 | ((c >> 6) & 63);
        out[o++] = 0x80 | (c & 63);
      } else {
        out[o++] = 0xf0 | (c >> 18);
        out[o++] = 0x80 | ((c >> 12) & 63);
        out[o++] = 0x80 | ((c >> 6) & 63);
        out[o++] = 0x80 | (c & 63);
      }
    }
    return out.slice(0, o);
  }

  function utf8Decode(b, fatal) {
    // ASCII (most JSON bodies): the bytes are the code units.
    let ascii = true;
    for (let i = 0; i < b.length; i++) {
      if (b[i] > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return unitsToString(b, b.length);
    const units = new Uint16Array(b.length);
    let u = 0;
    const bad = () => {
      if (fatal) throw new TypeError("The encoded data was not valid utf-8");
      return 0xfffd;
    };
    for (let i = 0; i < b.length; ) {
      const c = b[i++];
      let cp;
      if (c < 0x80) {
        units[u++] = c;
        continue;
      } else if (c >= 0xc2 && c < 0xe0 && i < b.length && (b[i] & 0xc0) === 0x80) cp = ((c & 31) << 6) | (b[i++] & 63);
      else if (c >= 0xe0 && c < 0xf0 && i + 1 < b.length && (b[i] & 0xc0) === 0x80 && (b[i + 1] & 0xc0) === 0x80) {
        cp = ((c & 15) << 12) | ((b[i] & 63) << 6) | (b[i + 1] & 63);
        i += 2;
        if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) cp = bad();
      } else if (c >= 0xf0 && c < 0xf5 && i + 2 < b.length && (b[i] & 0xc0) === 0x80 && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
        cp = ((c & 7) << 18) | ((b[i] & 63) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63);
        i += 3;
        if (cp < 0x10000 || cp > 0x10ffff) cp = bad();
      } else cp = bad();
      if (cp > 0xffff) {
        units[u++] = 0xd800 + ((cp - 0x10000) >> 10);
        units[u++] = 0xdc00 + ((cp - 0x10000) & 1023);
      } else units[u++] = cp;
    }
    return unitsToString(units, u);
  }

  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const B64_CODES = new Uint8Array(64);
  const LOOKUP = new Uint8Array(256).fill(255);
  for (let i = 0; i < 64; i++) {
    B64_CODES[i] = B64.charCodeAt(i);
    LOOKUP[B64.charCodeAt(i)] = i;
  }
  LOOKUP[45] = 62; // "-" (base64url)
  LOOKUP[95] = 63; // "_"

  function base64ToBytes(input) {
    let s = String(input);
    if (/[^A-Za-z0-9+/=_-]/.test(s)) {
      s = s.replace(/[\t\n\f\r ]/g, "");
      if (/[^A-Za-z0-9+/=_-]/.test(s)) throw new Error("invalid base64 string");
    }
    let end = s.length;
    while (end > 0 && s.charCodeAt(end - 1) === 61) end--;
    if (s.length - end > 2 || end % 4 === 1) throw new Error("invalid base64 string");
    const out = new Uint8Array(Math.floor((end * 3) / 4));
    const full = end - (end % 4);
    let o = 0;
    let i = 0;
    // Four characters at a time: three bytes, no carried state (V8 optimises this loop well).
    for (; i < full; i += 4) {
      const n = (LOOKUP[s.charCodeAt(i)] << 18) | (LOOKUP[s.charCodeAt(i + 1)] << 12) | (LOOKUP[s.charCodeAt(i + 2)] << 6) | LOOKUP[s.charCodeAt(i + 3)];
      out[o++] = n >> 16;
      out[o++] = (n >> 8) & 255;
      out[o++] = n & 255;
    }
    if (end - i === 2) out[o++] = (LOOKUP[s.charCodeAt(i)] << 2) | (LOOKUP[s.charCodeAt(i + 1)] >> 4);
    else if (end - i === 3) {
      const n = (LOOKUP[s.charCodeAt(i)] << 10) | (LOOKUP[s.charCodeAt(i + 1)] << 4) | (LOOKUP[s.charCodeAt(i + 2)] >> 2);
      out[o++] = n >> 8;
      out[o++] = n & 255;
    }
    if (/=[^=]/.test(s)) throw new Error("invalid base64 string");
    return out.subarray(0, o);
  }

  function bytesToBase64(b) {
    const units = new Uint16Array(Math.ceil(b.length / 3) * 4);
    let u = 0;
    let i = 0;
    for (; i + 2 < b.length; i += 3) {
      const n = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
      units[u++] = B64_CODES[n >> 18];
      units[u++] = B64_CODES[(n >> 12) & 63];
      units[u++] = B64_CODES[(n >> 6) & 63];
      units[u++] = B64_CODES[n & 63];
    }
    if (i < b.length) {
      const n = (b[i] << 16) | ((i + 1 < b.length ? b[i + 1] : 0) << 8);
      units[u++] = B64_CODES[n >> 18];
      units[u++] = B64_CODES[(n >> 12) & 63];
      units[u++] = i + 1 < b.length ? B64_CODES[(n >> 6) & 63] : 61;
      units[u++] = 61;
    }
    return unitsToString(units, u);
  }

  function latin1(bytesOrString, toBytes) {
    if (toBytes) {
      const s = String(bytesOrString);
      const out = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c > 255) throw new Error("the string contains characters outside Latin1");
        out[i] = c;
      }
      return out;
    }
    return unitsToString(new Uint16Array(bytesOrString), bytesOrString.length);
  }

  class TextEncoder {
    get encoding() {
      return "utf-8";
    }
    encode(input = "") {
      return utf8Encode(input);
    }
  }
  class TextDecoder {
    constructor(label = "utf-8", options = {}) {
      const l = String(label).toLowerCase();
      if (l !== "utf-8" && l !== "utf8") throw new RangeError(`TextDecoder: only utf-8 is supported, not ${label}`);
      this.fatal = !!options.fatal;
    }
    get encoding() {
      return "utf-8";
    }
    decode(input) {
      if (input === undefined) return "";
      const b = input instanceof Uint8Array ? input : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : new Uint8Array(input);
      return utf8Decode(b, this.fatal);
    }
  }
  const crypto = {
    getRandomValues(array) {
      if (!(array instanceof Uint8Array || array instanceof Uint16Array || array instanceof Uint32Array || array instanceof Int8Array || array instanceof Int16Array || array instanceof Int32Array)) {
        throw new TypeError("crypto.getRandomValues: an integer typed array is required");
      }
      if (array.byteLength > 65536) throw new RangeError("crypto.getRandomValues: at most 65536 bytes");
      const hex = hostSync(0, "random.hex", String(array.byteLength));
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.substr(i * 2, 2), 16);
      return array;
    },
  };
  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  define("btoa", (s) => bytesToBase64(latin1(s, true)));
  define("atob", (s) => latin1(base64ToBytes(s), false));
  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
  define("crypto", crypto);
  // For the prelude (which deletes it): byte helpers the boundary codec uses instead of atob/btoa.
  define("__restitch_bytes", { base64ToBytes, bytesToBase64 });
}
