//! Re-exports the generated (ts-rs) types so the rest of the UI imports them from `$lib/ipc`.
export type { ActivityEntry } from "./generated/ActivityEntry";
export type { BotSummary } from "./generated/BotSummary";
export type { CreateEvent } from "./generated/CreateEvent";
export type { ErrorBody } from "./generated/ErrorBody";
export type { ErrorCode } from "./generated/ErrorCode";
export type { LayerProgress } from "./generated/LayerProgress";
export type { LayerStatus } from "./generated/LayerStatus";
export type { Limits } from "./generated/Limits";
export type { LimitsApply } from "./generated/LimitsApply";
export type { NetworkMode } from "./generated/NetworkMode";
export type { PullPolicy } from "./generated/PullPolicy";
export type { PullProgress } from "./generated/PullProgress";
export type { Settings } from "./generated/Settings";
export type { SystemStatus } from "./generated/SystemStatus";
export type { WorkspaceChanged } from "./generated/WorkspaceChanged";
export type { WorkspaceInfo } from "./generated/WorkspaceInfo";
export type { WorkspaceState } from "./generated/WorkspaceState";
