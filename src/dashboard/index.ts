export type { DashboardAppOptions } from "./app.js";
export { collectDashboardData, createDashboardApp } from "./app.js";
export type { DashboardData } from "./render.js";
export type { Dashboard, DashboardOptions } from "./server.js";
export { startDashboard } from "./server.js";
