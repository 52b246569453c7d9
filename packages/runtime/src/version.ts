import { createRequire } from "node:module";

/** isolated-vm below 7.0.1 carries a critical memory-corruption advisory (GHSA-864f-rcv7-6rh4). */
export const MIN_ISOLATED_VM = "7.0.1";

export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).slice(0, 3).map(Number);
  const pb = b.split(/[.+-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** Throws, saying why, when the installed isolated-vm is too old to be trusted with tenant code. */
export function assertIsolatedVmVersion(version: string = createRequire(import.meta.url)("isolated-vm/package.json").version): void {
  if (!/^\d+\.\d+\.\d+/.test(version) || compareVersions(version, MIN_ISOLATED_VM) < 0) {
    throw new Error(
      `isolated-vm ${version} is installed, but Restitch needs ${MIN_ISOLATED_VM} or newer: older releases have a critical ` +
        `memory-corruption advisory (GHSA-864f-rcv7-6rh4) that lets tenant code escape the isolate. Upgrade isolated-vm.`,
    );
  }
}
