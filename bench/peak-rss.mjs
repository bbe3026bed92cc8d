// Preloaded with `node --import ./bench/peak-rss.mjs …`: writes the process's peak resident set
// size in bytes to $PEAK_RSS_FILE when it exits, whatever the program it wraps.
import { writeFileSync } from "node:fs";

process.on("exit", () => {
  const file = process.env.PEAK_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS * 1024));
});
