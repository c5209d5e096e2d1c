/**
 * HTML pages → PNG with Debian's Chromium, headless: one start measures how tall every page is at its
 * width (--dump-dom, after the pages' scripts ran), then one start per page takes its screenshot.
 */
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

export function findChromium() {
  const found = [process.env.CHROMIUM, ...CANDIDATES].find((p) => p && existsSync(p));
  if (!found)
    throw new Error(
      "screens: Chromium not found. Install Debian's: apt-get install -y chromium fonts-noto-color-emoji (or set CHROMIUM=/path/to/chrome).",
    );
  return found;
}

const MEASURE = `<script>
document.documentElement.setAttribute("data-shot-height",
  String(Math.ceil(document.getElementById("shot").getBoundingClientRect().bottom)));
</script></body>`;

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--hide-scrollbars",
  "--allow-file-access-from-files",
  "--no-first-run",
  "--disable-extensions",
  "--mute-audio",
];

function run(chromium, args) {
  return execFileSync(chromium, [...FLAGS, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  });
}

/**
 * Writes each page to `work/<name>.html`, measures them all in one browser start (each in an iframe
 * of its own width), then screenshots each at its height into `png`.
 */
export function shootAll(chromium, pages, work) {
  for (const p of pages) writeFileSync(join(work, `${p.name}.html`), p.html.replace("</body>", MEASURE));
  const frames = pages
    .map(
      (p) =>
        `<iframe data-name="${p.name}" src="${p.name}.html" style="width:${p.width}px;height:200px;border:0"></iframe>`,
    )
    .join("\n");
  const index = join(work, "measure.html");
  writeFileSync(
    index,
    `<!doctype html><html><body>${frames}<script>
addEventListener("load", () => {
  for (const f of document.querySelectorAll("iframe"))
    f.setAttribute("data-height", f.contentDocument.documentElement.getAttribute("data-shot-height") || "800");
});
</script></body></html>`,
  );
  const dom = run(chromium, [
    "--window-size=1200,800",
    "--virtual-time-budget=5000",
    "--dump-dom",
    pathToFileURL(index).href,
  ]);
  const heights = new Map(
    [...dom.matchAll(/data-name="([^"]+)"[^>]*data-height="(\d+)"/g)].map((m) => [m[1], Number(m[2])]),
  );
  for (const p of pages) {
    const height = heights.get(p.name) ?? 1200;
    run(chromium, [
      `--window-size=${p.width},${height}`,
      `--force-device-scale-factor=${p.scale ?? 2}`,
      `--screenshot=${p.png}`,
      pathToFileURL(join(work, `${p.name}.html`)).href,
    ]);
    p.done?.();
  }
}
