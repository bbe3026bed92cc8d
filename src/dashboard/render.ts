import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { CorruptCheckpoint } from "../core/store/records.js";
import type { Advice } from "../reports/advise.js";
import { differenceTexts, durationText } from "../reports/duration-text.js";
import { formatLimit, type QuotaStatusRow } from "../reports/quotas.js";
import type { RunView } from "../reports/runs.js";
import type { RolledStatusRow } from "../reports/shard-rollup.js";
import type { StaleReport } from "../reports/stale.js";
import type { ProcessorStats } from "../reports/stats.js";
import { type SavedPerDay, savedChartSvg } from "./chart.js";

/**
 * Server-side rendering of the dashboard. Every value goes through hono's `html` tag, which
 * escapes it; only our own fixed markup (and the numeric SVG chart) is inserted raw.
 */

type Html = HtmlEscapedString;
const h = (strings: TemplateStringsArray, ...values: unknown[]): Html =>
  html(strings, ...values) as Html;

/** Everything one refresh shows. */
export interface DashboardData {
  readonly status: readonly RolledStatusRow[];
  /** Checkpoint rows that cannot be read, shown under the status with a reset button. */
  readonly corrupt: readonly CorruptCheckpoint[];
  /** The store's quota keys, shown under the status. */
  readonly quotas: readonly QuotaStatusRow[];
  readonly runs: readonly RunView[];
  readonly stats: readonly ProcessorStats[];
  readonly stale: StaleReport;
  readonly advice: readonly Advice[];
  readonly saved: readonly SavedPerDay[];
}

/** The sections that live updates replace, by element id. */
export function renderSections(data: DashboardData, allowWrites: boolean): Record<string, string> {
  return {
    status:
      String(statusSection(data.status, allowWrites)) +
      String(corruptSection(data.corrupt, allowWrites)) +
      String(quotaSection(data.quotas)),
    runs: String(runsSection(data.runs)),
    stats: String(statsSection(data.stats, data.saved)),
    stale: String(staleSection(data.stale, allowWrites)),
    advice: String(adviceSection(data.advice)),
  };
}

function duration(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

function writeButton(
  allowWrites: boolean,
  action: string,
  label: string,
  fields: Record<string, string>,
): Html {
  const data = Object.entries(fields).map(([k, v]) => h` data-${k}="${v}"`);
  return h`<button type="button" class="write" data-action="${action}"${data}${
    allowWrites ? "" : raw(' title="start the dashboard with --allow-writes to enable"')
  }>${label}</button>`;
}

function statusSection(rows: readonly RolledStatusRow[], allowWrites: boolean): Html {
  if (rows.length === 0) return h`<p class="empty">No active checkpoints.</p>`;
  return h`<table><thead><tr><th>Processor</th><th>Partition</th><th>Progress</th><th>Done</th>
<th>Rate</th><th>ETA</th><th>Age</th><th>Lease holder</th><th>Resumes</th><th></th></tr></thead><tbody>
${rows.map((r) => [statusRow(r, allowWrites), ...(r.shards ?? []).map((s) => statusRow(s, allowWrites, true))])}</tbody></table>`;
}

/** Rows no run could have written: what is wrong, and the reset that recovers each. */
function corruptSection(
  corrupt: readonly CorruptCheckpoint[],
  allowWrites: boolean,
): Html | string {
  if (corrupt.length === 0) return "";
  return h`<h3 class="corrupt">Corrupt checkpoints</h3><table class="corrupt"><thead><tr><th>Processor</th>
<th>Partition</th><th>Field</th><th>Value</th><th>Problem</th><th></th></tr></thead><tbody>
${corrupt.map(
  (
    c,
  ) => h`<tr class="corrupt" data-processor="${c.processor}" data-partition="${c.partition}" data-shard="${c.shard}">
<td class="processor">${c.processor}</td><td>${c.shard === "" ? c.partition : `${c.partition} shard ${c.shard}`}</td>
<td>${c.field}</td><td>${c.value}</td><td>${c.message}</td>
<td>${writeButton(allowWrites, "reset", "Reset", { processor: c.processor, partition: c.partition, shard: c.shard })}</td></tr>`,
)}</tbody></table>`;
}

/** Each quota key: its limit, the rate used over the last minute, its pause, who waits. */
function quotaSection(quotas: readonly QuotaStatusRow[]): Html | string {
  if (quotas.length === 0) return "";
  return h`<h3>Quotas</h3><table class="quotas"><thead><tr><th>Quota</th><th>Limit</th>
<th>Rate now</th><th>Used (last minute)</th><th>Paused until</th><th>Pauses</th><th>Waiting</th></tr></thead><tbody>
${quotas.map(
  (q) => h`<tr class="quota${q.pausedUntil === null ? "" : " paused"}" data-key="${q.key}">
<td>${q.key}</td><td>${formatLimit(q.limit, q.perMs)}</td>
<td>${q.rate < q.limit ? `${formatLimit(q.rate, q.perMs)} (adaptive)` : "limit"}</td>
<td>${q.usedPerSecond.toFixed(1)}/s</td>
<td>${q.pausedUntil === null ? "-" : new Date(q.pausedUntil).toISOString().replace("T", " ").slice(0, 23)}</td>
<td>${q.pauses}</td><td>${q.waiting}</td></tr>`,
)}</tbody></table>`;
}

/**
 * One row; a partition in parts has its sum over its whole range (completed shards included)
 * and no reset button, each of its shards in flight has one. A holder's reason for declining
 * a split shows under the place.
 */
function statusRow(r: RolledStatusRow, allowWrites: boolean, part = false): Html {
  const shard = part && r.shard === "" ? "(start)" : r.shard;
  const place = shard === "" ? r.partition : `${r.partition} shard ${shard}`;
  const done = r.completedShards?.length ?? 0;
  const reset = r.shards
    ? h`${r.shards.length} shards in flight${done > 0 ? `, ${done} done` : ""}`
    : writeButton(allowWrites, "reset", "Reset", {
        processor: r.processor,
        partition: r.partition,
        shard: r.shard,
      });
  return h`<tr data-processor="${r.processor}" data-partition="${r.partition}" data-shard="${r.shard}"${r.shard === "" ? "" : raw(' class="shard"')}>
<td class="processor">${r.processor}</td><td>${place}${r.splitNote === null ? "" : h`<div class="split-note">not split: ${r.splitNote}</div>`}</td>
<td><div class="bar"><div style="width:${r.percent ?? 0}%"></div></div></td>
<td class="done">${r.completed}/${r.total ?? "?"}${r.percent === null ? "" : ` (${r.percent.toFixed(1)}%)`}</td>
<td>${r.ratePerSecond === null ? "-" : `${r.ratePerSecond.toFixed(1)}/s`}</td><td>${duration(r.etaMs)}</td>
<td>${duration(r.ageMs)}</td><td>${r.leaseHolder ?? "-"}</td><td>${r.resumes}</td>
<td>${reset}</td></tr>`;
}

function runsSection(runs: readonly RunView[]): Html {
  if (runs.length === 0) return h`<p class="empty">No runs recorded.</p>`;
  return h`<table><thead><tr><th>Started</th><th>Processor</th><th>Partition</th><th>Status</th>
<th>Processed</th><th>Resumed from</th><th>Duration</th><th>Error</th></tr></thead><tbody>
${runs.map(
  (
    r,
  ) => h`<tr class="run ${r.status}"><td>${new Date(r.startedAt).toISOString().replace("T", " ").slice(0, 19)}</td>
<td>${r.processor}</td><td>${r.shard === "" ? r.partition : `${r.partition} shard ${r.shard}`}</td><td>${r.running && r.running !== "live" ? `running (${r.running}: dead?)` : r.status}${r.reason ? ` (${r.reason})` : ""}</td>
<td>${r.processed}${r.total === null ? "" : ` of ${r.total}`}</td><td>${r.resumedFrom ?? "-"}</td>
<td>${duration(r.finishedAt === null ? null : r.finishedAt - r.startedAt)}</td><td>${r.error ?? ""}</td></tr>`,
)}</tbody></table>`;
}

/** Time saved, overhead and net saving, rounded alike so that the row adds up. */
function savingCells(s: ProcessorStats): Html {
  const [saved, overhead, net] =
    s.timeSavedMs === null
      ? ["-", durationText(s.checkpointOverheadMs), "-"]
      : differenceTexts(s.timeSavedMs, s.checkpointOverheadMs);
  return h`<td>${saved}</td><td>${overhead}</td><td>${net}</td>`;
}

function statsSection(stats: readonly ProcessorStats[], saved: readonly SavedPerDay[]): Html {
  const table =
    stats.length === 0
      ? h`<p class="empty">No runs in the window.</p>`
      : h`<table><thead><tr><th>Processor</th><th>Runs</th><th>Failed</th><th>Resumed</th>
<th>Entities saved</th><th>Time saved</th><th>Checkpoint overhead</th><th>Net saving</th></tr></thead><tbody>
${stats.map(
  (
    s,
  ) => h`<tr><td>${s.processor}</td><td>${s.runs}</td><td>${s.failedRuns}</td><td>${s.resumedRuns}</td>
<td>${s.entitiesSaved}</td>${savingCells(s)}</tr>`,
)}</tbody></table>`;
  return h`${table}<h3>Entities saved by resumes per day</h3>${raw(savedChartSvg(saved))}`;
}

function staleSection(stale: StaleReport, allowWrites: boolean): Html {
  const checkpoints =
    stale.checkpoints.length === 0
      ? h`<p class="empty">No stale checkpoints.</p>`
      : h`<ul>${stale.checkpoints.map(
          (c) =>
            h`<li>${c.processor} / ${c.partition}: ${c.completed}/${c.total ?? "?"}, last commit ${duration(c.ageMs)} ago</li>`,
        )}</ul>`;
  const runs =
    stale.runs.length === 0
      ? h`<p class="empty">No runs left running by a dead process.</p>`
      : h`<ul>${stale.runs.map(
          (d) =>
            h`<li>run ${d.run.runId} of ${d.run.processor} / ${d.run.partition}: ${d.cause}, silent ${duration(d.ageMs)}</li>`,
        )}</ul>`;
  return h`<p>Older than ${duration(stale.olderThanMs)}.</p>${checkpoints}${runs}
${writeButton(allowWrites, "gc", "Run gc", { "older-than": String(stale.olderThanMs) })}`;
}

/** Weekly waste without and with checkpoints, and the saving, rounded so that they add up. */
function weeklyWaste(f: Advice["figures"]): Html | string {
  if (f.weeklyReworkMs === null || f.weeklyOverheadMs === null) return "";
  const [without, withCheckpoints, net] = differenceTexts(f.weeklyReworkMs, f.weeklyOverheadMs);
  return h`<p>Weekly waste without checkpoints ${without}, with them ${withCheckpoints}: ${net} saved.</p>`;
}

function adviceSection(advice: readonly Advice[]): Html {
  if (advice.length === 0) return h`<p class="empty">No runs recorded.</p>`;
  return h`${advice.map(
    (a) => h`<div class="advice ${a.verdict}"><strong>${a.processor}</strong>: ${a.summary}
<ul>${a.steps.map((s) => h`<li>${s.check}: ${s.figure} &rarr; ${s.outcome}</li>`)}</ul>
${weeklyWaste(a.figures)}
${a.figures.recommendedBatchSize === null ? "" : h`<p>Recommended batch size: ${a.figures.recommendedBatchSize}.</p>`}
${a.overheadWarning ? h`<p class="warn">${a.overheadWarning}</p>` : ""}
${a.stallWarning ? h`<p class="warn">${a.stallWarning}</p>` : ""}</div>`,
  )}`;
}
