// Shared by the in-Node peers: announce readiness to the runner, close cleanly on SIGTERM.
export function listenAndReport(server, close) {
  server.on("listening", () => console.log(`listening ${server.address().port}`));
  process.on("SIGTERM", () => server.close(() => Promise.resolve(close()).finally(() => process.exit(0))));
}
