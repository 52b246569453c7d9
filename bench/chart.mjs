// The SVG chart: for each endpoint, one bar per peer for requests/s (left panel) and p99 latency (right).
const COLORS = ["#2563eb", "#60a5fa", "#16a34a", "#f59e0b", "#9ca3af", "#a855f7"];
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function panel(x0, title, rows, endpoints, peers, value, unit) {
  const width = 440;
  const height = 260;
  const max = Math.max(1, ...rows.map(value).filter(Number.isFinite));
  const groupW = width / endpoints.length;
  const barW = (groupW - 16) / peers.length;
  const out = [`<text x="${x0 + width / 2}" y="20" text-anchor="middle" font-weight="bold">${esc(title)}</text>`];
  endpoints.forEach((ep, i) => {
    peers.forEach((peer, j) => {
      const row = rows.find((r) => r.endpoint === ep && r.peer === peer);
      const v = row ? value(row) : NaN;
      const x = x0 + i * groupW + 8 + j * barW;
      if (!Number.isFinite(v)) {
        out.push(`<text x="${x + barW / 2}" y="${30 + height - 4}" font-size="8" text-anchor="middle">n/a</text>`);
        return;
      }
      const h = (v / max) * height;
      out.push(`<rect x="${x}" y="${30 + height - h}" width="${barW - 2}" height="${h}" fill="${COLORS[j % COLORS.length]}"><title>${esc(`${peer} ${ep}: ${v.toFixed(unit === "ms" ? 2 : 0)} ${unit}`)}</title></rect>`);
    });
    out.push(`<text x="${x0 + i * groupW + groupW / 2}" y="${30 + height + 16}" text-anchor="middle">${esc(ep)}</text>`);
  });
  out.push(`<text x="${x0}" y="${30 + 10}" font-size="10">${esc(`max ${max.toFixed(unit === "ms" ? 1 : 0)} ${unit}`)}</text>`);
  return out.join("\n");
}

export function chartSvg(rows, caption) {
  const endpoints = [...new Set(rows.map((r) => r.endpoint))];
  const peers = [...new Set(rows.map((r) => r.peer))];
  const legend = peers.map((p, j) => `<rect x="${20 + j * 150}" y="330" width="12" height="12" fill="${COLORS[j % COLORS.length]}"/><text x="${36 + j * 150}" y="341">${esc(p)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="960" height="380" font-family="sans-serif" font-size="12">
<rect width="960" height="380" fill="white"/>
${panel(20, "requests/s (median of runs, higher is better)", rows, endpoints, peers, (r) => r.rps, "req/s")}
${panel(500, "p99 latency ms (lower is better)", rows, endpoints, peers, (r) => r.p99Ms, "ms")}
${legend.join("\n")}
<text x="20" y="370" font-size="10">${esc(caption)}</text>
</svg>
`;
}
