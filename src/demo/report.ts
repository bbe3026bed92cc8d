import type { DemoEvent, DemoMode, DemoModeReport, DemoReport, DemoRun } from "./demo.js";

// What the demo says as it goes, then its closing figures: text for a terminal.

const TITLES: Record<DemoMode, string> = {
  withoutCheckpoints: "Without checkpoints: the retry starts over from player 1",
  withCheckpoints: "With checkpoints: the retry resumes after the last committed batch",
};

/** The live line for one demo event, or null for events not worth a line. */
export function describeEvent(event: DemoEvent, batchSize: number): string | null {
  switch (event.type) {
    case "mode":
      return `\n${TITLES[event.mode]} (processor ${event.processor})`;
    case "log":
      // One line per batch would drown the story; the timeline shows the batches.
      return event.line.startsWith("Progress:") ? null : `    ${event.line}`;
    case "reset":
      // waymark kept a checkpoint all the same: say that this half deletes it on purpose.
      return (
        "    Checkpoint reset: this half deletes the checkpoint waymark kept, as a job without " +
        "checkpoints has none, so the retry starts again at player 1."
      );
    case "run":
      return `  ${timelineLine(event.run, batchSize)}`;
  }
}

/** The closing summary: both timelines side by side in figures, and what was saved. */
export function describeReport(report: DemoReport): string {
  const { withoutCheckpoints: without, withCheckpoints: withCp, saved } = report;
  const lines = [
    "",
    "Timelines (█ batch processed, ░ batch skipped thanks to a checkpoint, ✗ failed batch):",
    ...modeLines("without checkpoints", without, report.batchSize),
    ...modeLines("with checkpoints   ", withCp, report.batchSize),
    "",
    `Work saved by checkpoints: ${saved.entities} of ${without.processed} entities not redone ` +
      `(${percent(saved.share)}), ${seconds(without.durationMs)} → ${seconds(withCp.durationMs)} ` +
      `(${percent(saved.timeShare)} less time).`,
  ];
  return lines.join("\n");
}

function modeLines(title: string, mode: DemoModeReport, batchSize: number): string[] {
  return [
    `  ${title}: ${mode.processed} entities processed in ${mode.runs.length} runs, ` +
      `${seconds(mode.durationMs)}`,
    ...mode.runs.map((run, i) => `    run ${i + 1}  ${timelineLine(run, batchSize)}`),
  ];
}

/** One run as a bar of batches plus its outcome. */
function timelineLine(run: DemoRun, batchSize: number): string {
  const skipped = Math.ceil((run.resumedFrom ?? 0) / batchSize);
  const bar = "░".repeat(skipped) + "█".repeat(run.batches) + (run.status === "failed" ? "✗" : "");
  const total = run.total ?? "?";
  const start = (run.resumedFrom ?? 0) + 1;
  const end = (run.resumedFrom ?? 0) + run.processed;
  const range = run.processed > 0 ? `players ${start}-${end} of ${total}` : `nothing of ${total}`;
  const outcome = run.error ? `, then ${run.error.split(": ")[0]}` : "";
  return `${bar.padEnd(12)} ${run.status.padEnd(9)} ${range}${outcome} (${seconds(run.durationMs)})`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}
